using Grpc.Core;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// The read side of a client stream, bounded in time per message: no message for the idle timeout
/// ends the call with RESOURCE_EXHAUSTED naming stream-idle-timeout. Only waiting for the client
/// counts; the time the daemon spends storing a message does not.
/// </summary>
internal sealed class StreamIdleTimer : IDisposable
{
    private CancellationTokenSource _idle = new();
    private CancellationTokenSource _linked;
    private readonly TimeSpan _timeout;
    private readonly CancellationToken _call;

    public StreamIdleTimer(TimeSpan timeout, CancellationToken call)
    {
        _timeout = timeout;
        _call = call;
        _linked = CancellationTokenSource.CreateLinkedTokenSource(_idle.Token, call);
    }

    /// <summary>The next message, or null at the end of the stream.</summary>
    public async ValueTask<T?> NextAsync<T>(IAsyncStreamReader<T> stream) where T : class
    {
        _idle.CancelAfter(_timeout);
        try
        {
            bool more = await stream.MoveNext(_linked.Token).ConfigureAwait(false);
            _idle.CancelAfter(Timeout.InfiniteTimeSpan);
            if (_idle.IsCancellationRequested)
                Renew(); // the message came just as the timer fired: it was not idle
            return more ? stream.Current : null;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or RpcException
            && _idle.IsCancellationRequested && !_call.IsCancellationRequested)
        {
            throw new StoreLimitExceededException(
                $"the stream sent no message for {_timeout.TotalSeconds:0.###} s (stream-idle-timeout); nothing was stored");
        }
    }

    private void Renew()
    {
        _linked.Dispose();
        _idle.Dispose();
        _idle = new CancellationTokenSource();
        _linked = CancellationTokenSource.CreateLinkedTokenSource(_idle.Token, _call);
    }

    public void Dispose()
    {
        _linked.Dispose();
        _idle.Dispose();
    }
}
