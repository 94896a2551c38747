using Grpc.Core;

namespace TvixLowFs.Store.Grpc.Client;

/// <summary>
/// The client side of one Put stream (blobs, directories): opened on the first message, every
/// message restarting the progress deadline, a failed write answered with the call's own status,
/// the close waiting for the server's answer, and an unfinished stream cancelled when disposed
/// (the server then discards it).
/// </summary>
internal sealed class ClientStreamingPut<TRequest, TResponse>(
    GrpcStoreChannel channel, Func<CallOptions, AsyncClientStreamingCall<TRequest, TResponse>> open, string what) : IDisposable
{
    private readonly CancellationTokenSource _abandon = new();
    private ProgressDeadline? _progress;
    private AsyncClientStreamingCall<TRequest, TResponse>? _call;

    /// <summary>The server answered the completed stream (or the put was disposed).</summary>
    public bool Closed { get; private set; }

    public async ValueTask WriteAsync(TRequest message, CancellationToken cancellationToken)
    {
        var call = Start();
        try
        {
            await call.RequestStream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw await channel.TranslateWriteFailureAsync(call.ResponseAsync, e, what, cancellationToken, _progress).ConfigureAwait(false);
        }
        _progress!.Progress();
    }

    public async ValueTask<TResponse> CompleteAsync(CancellationToken cancellationToken)
    {
        var call = Start();
        TResponse response;
        try
        {
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            response = await call.ResponseAsync.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw channel.Translate(e, what, cancellationToken, _progress);
        }
        Closed = true;
        return response;
    }

    public void Dispose()
    {
        if (!Closed)
            _abandon.Cancel();
        Closed = true;
        _call?.Dispose();
        _progress?.Dispose();
        _abandon.Dispose();
    }

    private AsyncClientStreamingCall<TRequest, TResponse> Start()
    {
        if (_call is not null)
            return _call;
        _progress = new ProgressDeadline(channel.Options.Timeout, _abandon.Token);
        _call = open(new CallOptions(cancellationToken: _progress.Token));
        return _call;
    }
}
