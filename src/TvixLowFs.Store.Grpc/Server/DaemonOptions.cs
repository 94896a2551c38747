namespace TvixLowFs.Store.Grpc.Server;

/// <summary>How a <see cref="DaemonHost"/> bounds its clients and who may write.</summary>
public sealed record DaemonOptions
{
    public DaemonLimits Limits { get; init; } = DaemonLimits.Default;

    /// <summary>Every Put answers PERMISSION_DENIED (a daemon that serves runners).</summary>
    public bool ReadOnly { get; init; }

    /// <summary>TLS on the TCP listener; null: cleartext HTTP/2.</summary>
    public DaemonTls? Tls { get; init; }

    public static DaemonOptions Default { get; } = new();
}
