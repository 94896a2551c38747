using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// The read side of a Put stream, bounded in time: no message for the idle timeout, or (after the
/// data-rate grace) fewer bytes per second than the minimum data rate, ends the call with
/// RESOURCE_EXHAUSTED naming the limit. Only time spent waiting for the client counts, not the time
/// the daemon spends storing what it received. The daemon does this itself because Kestrel cannot:
/// grpc-dotnet turns Kestrel's request-body rate off for client streams, and HTTP/2 streams do not
/// let it be turned back on.
/// </summary>
internal sealed class StreamIdleTimer : IDisposable
{
    private CancellationTokenSource _idle = new();
    private CancellationTokenSource _linked;
    private readonly TimeSpan _timeout;
    private readonly double _minRate;
    private readonly CancellationToken _call;
    private TimeSpan _waited;
    private long _received;

    public StreamIdleTimer(TimeSpan timeout, double minRate, CancellationToken call)
    {
        _timeout = timeout;
        _minRate = minRate;
        _call = call;
        _linked = CancellationTokenSource.CreateLinkedTokenSource(_idle.Token, call);
    }

    public static StreamIdleTimer ForPut(ServerCallContext context, DaemonLimits limits) =>
        new(limits.StreamIdleTimeout, limits.MinDataRate, context.CancellationToken);

    /// <summary>The next message, or null at the end of the stream.</summary>
    public async ValueTask<T?> NextAsync<T>(IAsyncStreamReader<T> stream) where T : class, IMessage
    {
        _idle.CancelAfter(_timeout);
        long started = Stopwatch.GetTimestamp();
        bool more;
        try
        {
            more = await stream.MoveNext(_linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or RpcException
            && _idle.IsCancellationRequested && !_call.IsCancellationRequested)
        {
            throw new StoreLimitExceededException(
                $"the stream sent no message for {_timeout.TotalSeconds:0.###} s (stream-idle-timeout); nothing was stored");
        }
        _idle.CancelAfter(Timeout.InfiniteTimeSpan);
        if (_idle.IsCancellationRequested)
            Renew(); // the message came just as the timer fired: it was not idle
        _waited += Stopwatch.GetElapsedTime(started);
        if (!more)
            return null;
        _received += stream.Current.CalculateSize();
        if (_minRate > 0 && _waited > DaemonLimits.DataRateGrace && _received < _minRate * _waited.TotalSeconds)
            throw new StoreLimitExceededException(
                $"the stream sent {_received} bytes in {_waited.TotalSeconds:0.#} s, less than {_minRate} bytes a second (min-data-rate); nothing was stored");
        return stream.Current;
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
