using Grpc.Core;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// Who may Put: nobody on a <c>--read-only</c> daemon; with <c>--client-ca-file</c>, only connections
/// that presented a certificate from that CA (Kestrel rejects one that does not chain to it during
/// the handshake, so any certificate seen here is valid). Everyone may read. A refusal is
/// PERMISSION_DENIED before anything of the request is read.
/// </summary>
public sealed class DaemonWritePolicy(bool readOnly, bool requireClientCertificate)
{
    public static DaemonWritePolicy Open { get; } = new(false, false);

    public bool ReadOnly { get; } = readOnly;

    public bool RequiresClientCertificate { get; } = requireClientCertificate;

    public void Demand(ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (ReadOnly)
            throw RpcErrors.PermissionDenied($"{context.Method}: this daemon is read-only (--read-only)");
        if (RequiresClientCertificate && context.GetHttpContext().Connection.ClientCertificate is null)
            throw RpcErrors.PermissionDenied($"{context.Method}: writing needs a client certificate from the daemon's --client-ca-file; this connection presented none");
    }
}
