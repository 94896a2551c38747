using Grpc.Core;
using Microsoft.AspNetCore.Http;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// The write side of a response stream, bounded in time: a message the client does not take for
/// the stream-idle-timeout ends the call and frees what it holds (a blob's descriptor, a listing).
/// Kestrel's minimum response data rate cannot see this case: a client that stops reading stops
/// HTTP/2 flow control first, and Kestrel does not count time blocked on the peer's window.
/// </summary>
internal sealed class ResponseStallTimer : IDisposable
{
    private readonly CancellationTokenSource _stalled = new();
    private readonly CancellationTokenRegistration _abort;
    private readonly TimeSpan _timeout;
    private readonly CancellationToken _call;

    private ResponseStallTimer(ServerCallContext context, TimeSpan timeout)
    {
        _timeout = timeout;
        _call = context.CancellationToken;
        HttpContext http = context.GetHttpContext();
        // Abort, not only a cancelled write: a write blocked on flow control is then reset at once.
        _abort = _stalled.Token.Register(static state => ((HttpContext)state!).Abort(), http);
    }

    public static ResponseStallTimer For(ServerCallContext context, DaemonLimits limits) => new(context, limits.StreamIdleTimeout);

    public async Task WriteAsync<T>(IServerStreamWriter<T> stream, T message)
    {
        _stalled.CancelAfter(_timeout);
        try
        {
            await stream.WriteAsync(message, _call).ConfigureAwait(false);
        }
        catch (Exception e) when (_stalled.IsCancellationRequested && !_call.IsCancellationRequested && e is not StoreLimitExceededException)
        {
            throw new StoreLimitExceededException(
                $"the client took no message for {_timeout.TotalSeconds:0.###} s (stream-idle-timeout); the stream was ended");
        }
        // Only ever fires mid-write: once it has, the call is over.
        _stalled.CancelAfter(Timeout.InfiniteTimeSpan);
    }

    public void Dispose()
    {
        _abort.Dispose();
        _stalled.Dispose();
    }
}
