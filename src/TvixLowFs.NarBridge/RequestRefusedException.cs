namespace TvixLowFs.NarBridge;

/// <summary>
/// A request answered with a 4xx: <see cref="Reason"/> is the one line the client gets as the
/// body and the log gets as a warning. Thrown where the problem is found, answered by the router.
/// </summary>
public sealed class RequestRefusedException(int status, string reason) : Exception(reason)
{
    public int Status { get; } = status;
    public string Reason { get; } = reason;
}
