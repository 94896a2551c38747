namespace TvixLowFs.Store.Grpc.Client;

/// <summary>
/// A cancellation that fires when a streaming call makes no progress for the configured timeout:
/// long transfers are fine, a stalled or vanished daemon is noticed in bounded time.
/// </summary>
internal sealed class ProgressDeadline : IDisposable
{
    private readonly CancellationTokenSource _idle;
    private readonly CancellationTokenSource _linked;
    private readonly TimeSpan _timeout;

    public ProgressDeadline(TimeSpan timeout, CancellationToken callerToken)
    {
        _timeout = timeout;
        _idle = new CancellationTokenSource(timeout);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(_idle.Token, callerToken);
    }

    public CancellationToken Token => _linked.Token;

    public bool Expired => _idle.IsCancellationRequested;

    /// <summary>Called on every message; restarts the idle clock.</summary>
    public void Progress() => _idle.CancelAfter(_timeout);

    public void Dispose()
    {
        _linked.Dispose();
        _idle.Dispose();
    }
}
