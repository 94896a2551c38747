namespace TvixLowFs.Store.Grpc.Client;

/// <summary>How the gRPC store clients bound their calls.</summary>
public sealed record GrpcClientOptions
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Environment variable holding the timeout in seconds (the <c>--grpc-timeout</c> flag wins).</summary>
    public const string TimeoutEnvironmentVariable = "TVIXLOWFS_GRPC_TIMEOUT";

    /// <summary>
    /// Deadline of every unary call, and the longest a streaming call may go without progress
    /// (a message received or sent): a whole large blob may take longer, a stalled one may not.
    /// </summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>Options from the environment, or the defaults.</summary>
    public static GrpcClientOptions FromEnvironment()
    {
        string? text = Environment.GetEnvironmentVariable(TimeoutEnvironmentVariable);
        return string.IsNullOrEmpty(text) ? new GrpcClientOptions() : new GrpcClientOptions { Timeout = ParseTimeout(text) };
    }

    /// <summary>Seconds, fractional allowed, greater than 0.</summary>
    public static TimeSpan ParseTimeout(string seconds)
    {
        if (!double.TryParse(seconds, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double value)
            || !(value > 0) || value > 86400)
            throw new FormatException($"'{seconds}': a gRPC timeout is a number of seconds greater than 0");
        return TimeSpan.FromSeconds(value);
    }
}
