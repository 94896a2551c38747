using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Client;

/// <summary>
/// One HTTP/2 channel to a <c>grpc+http://HOST:PORT</c>, <c>grpc+https://HOST:PORT[?tls-…]</c> or
/// <c>grpc+unix:///ABS/PATH</c> address,
/// shared by the three service clients of that address. Connections are re-established per
/// call by the handler, so the channel recovers by itself when the daemon comes back.
/// </summary>
public sealed class GrpcStoreChannel : IDisposable
{
    private GrpcStoreChannel(StoreAddress address, GrpcChannel channel, GrpcClientOptions options)
    {
        Address = address;
        Channel = channel;
        Options = options;
    }

    /// <summary>The daemon's address, as parsed once by the command line (messages name it).</summary>
    public StoreAddress Address { get; }
    public GrpcChannel Channel { get; }
    public GrpcClientOptions Options { get; }

    /// <summary>The HTTP/2 receive window of each stream.</summary>
    public const int Http2StreamWindowBytes = 4 << 20;

    /// <summary>Opens a channel to a grpc+http, grpc+https or grpc+unix address. Connects lazily.</summary>
    public static GrpcStoreChannel Open(StoreAddress address, GrpcClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(address);
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = options.Timeout,
            EnableMultipleHttp2Connections = true,
            // Notice a daemon that vanished without closing the connection (a host gone, not a process).
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = options.Timeout,
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            // A blob stream may be this far ahead of the reader hashing and writing it (default 64 KiB,
            // which over a local socket never grows: the daemon would wait on every window update).
            InitialHttp2StreamWindowSize = Http2StreamWindowBytes,
        };
        string httpAddress;
        switch (address.Kind)
        {
            case StoreAddressKind.GrpcUnix:
                var endpoint = new UnixDomainSocketEndPoint(address.Path!);
                handler.ConnectCallback = async (_, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                };
                httpAddress = "http://localhost";
                break;
            case StoreAddressKind.GrpcHttp when address.Tls:
                httpAddress = $"https://{address.Host}:{address.Port}";
                handler.ConnectCallback = ConnectTcp; // the handler runs TLS over the stream it returns
                handler.SslOptions = GrpcTlsClientOptions.Create(address);
                break;
            case StoreAddressKind.GrpcHttp:
                httpAddress = $"http://{address.Host}:{address.Port}";
                handler.ConnectCallback = ConnectTcp;
                break;
            default:
                throw new ArgumentException($"'{address}': not a grpc+http://, grpc+https:// or grpc+unix:// address", nameof(address));
        }
        var channel = GrpcChannel.ForAddress(httpAddress, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = 64 * 1024 * 1024,
            MaxSendMessageSize = 64 * 1024 * 1024,
        });
        return new GrpcStoreChannel(address, channel, options);
    }

    /// <summary>
    /// Our own connect (rather than the channel's subchannel balancer, which backs off for up to
    /// two minutes after failures) makes every call after an outage try a fresh connection.
    /// </summary>
    private static async ValueTask<Stream> ConnectTcp(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Call options of a unary call: bounded by the configured deadline.</summary>
    internal CallOptions Unary(CancellationToken cancellationToken) =>
        new(deadline: DateTime.UtcNow + Options.Timeout, cancellationToken: cancellationToken);

    /// <summary>
    /// A write to a client stream failed: a server that refuses the call (read-only, a limit) answers
    /// before reading the stream, and a write racing that answer fails with only "Cancelled". The
    /// call's own status says why, so it is translated instead when there is one.
    /// </summary>
    internal async ValueTask<Exception> TranslateWriteFailureAsync<TResponse>(Task<TResponse> response, RpcException e, string what,
        CancellationToken callerToken, ProgressDeadline? progress)
    {
        try
        {
            await response.WaitAsync(callerToken).ConfigureAwait(false);
        }
        catch (RpcException status)
        {
            e = status;
        }
        catch (OperationCanceledException)
        {
        }
        return Translate(e, what, callerToken, progress);
    }

    /// <summary>
    /// The next message of a server stream, or false at its end: the one place where a failed call,
    /// a stream that stalls past the progress deadline and a cancelled caller become the store's
    /// exceptions. With <paramref name="passUnimplemented"/>, UNIMPLEMENTED is thrown as it came
    /// (a caller that falls back to an older call).
    /// </summary>
    // Pooled: a blob read awaits this once per chunk, and an async method's state box would otherwise be one allocation per message.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    internal async ValueTask<bool> MoveNextAsync<T>(IAsyncStreamReader<T> stream, ProgressDeadline progress, string what,
        CancellationToken callerToken, bool passUnimplemented = false)
    {
        bool more;
        try
        {
            more = await stream.MoveNext(progress.Token).ConfigureAwait(false);
        }
        catch (RpcException e) when (!(passUnimplemented && e.StatusCode == StatusCode.Unimplemented))
        {
            throw Translate(e, what, callerToken, progress);
        }
        catch (OperationCanceledException) when (!callerToken.IsCancellationRequested && progress.Expired)
        {
            throw new StoreUnavailableException($"{Address}: {what}: no progress within {Options.Timeout.TotalSeconds:0.###} s");
        }
        if (more)
            progress.Progress();
        return more;
    }

    /// <summary>
    /// Translates a failed call into the store's exceptions: NOT_FOUND, INVALID_ARGUMENT and
    /// everything that means "the store is not answering" (naming the address).
    /// </summary>
    internal Exception Translate(RpcException e, string what, CancellationToken callerToken, ProgressDeadline? progress = null)
    {
        if (e.StatusCode == StatusCode.Cancelled && callerToken.IsCancellationRequested)
            return new OperationCanceledException(callerToken);
        if (e.StatusCode == StatusCode.Cancelled && progress is { Expired: true })
            return new StoreUnavailableException($"{Address}: {what}: no progress within {Options.Timeout.TotalSeconds:0.###} s", e);
        return e.StatusCode switch
        {
            StatusCode.NotFound => new StoreNotFoundException($"{Address}: {what}: {e.Status.Detail}"),
            StatusCode.InvalidArgument => new StoreValidationException($"{Address}: {what}: {e.Status.Detail}"),
            StatusCode.AlreadyExists => new StorePathConflictException($"{Address}: {what}: {e.Status.Detail}"),
            StatusCode.ResourceExhausted => new StoreLimitExceededException($"{Address}: {what}: {e.Status.Detail}"),
            StatusCode.DeadlineExceeded => new StoreUnavailableException($"{Address}: {what}: no answer within {Options.Timeout.TotalSeconds:0.###} s", e),
            StatusCode.Unimplemented => new StoreUnavailableException($"{Address}: {what}: the server does not implement this service", e),
            _ => new StoreUnavailableException($"{Address}: {what}: {e.StatusCode}: {e.Status.Detail}", e),
        };
    }

    private int _leases = 1;

    /// <summary>Another holder of the channel; each holder disposes it once, the last one closes it.</summary>
    public GrpcStoreChannel Lease()
    {
        if (Interlocked.Increment(ref _leases) <= 1)
            throw new ObjectDisposedException(nameof(GrpcStoreChannel));
        return this;
    }

    public void Dispose()
    {
        if (Interlocked.Decrement(ref _leases) == 0)
            Channel.Dispose();
    }
}
