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
    private GrpcStoreChannel(string address, GrpcChannel channel, GrpcClientOptions options)
    {
        Address = address;
        Channel = channel;
        Options = options;
    }

    public string Address { get; }
    public GrpcChannel Channel { get; }
    public GrpcClientOptions Options { get; }

    /// <summary>The HTTP/2 receive window of each stream.</summary>
    public const int Http2StreamWindowBytes = 4 << 20;

    public static bool IsGrpcAddress(string address) =>
        address.StartsWith("grpc+http://", StringComparison.Ordinal) || address.StartsWith("grpc+https://", StringComparison.Ordinal)
        || address.StartsWith("grpc+unix://", StringComparison.Ordinal);

    /// <summary>Opens a channel; throws <see cref="FormatException"/> on a malformed address. Connects lazily.</summary>
    public static GrpcStoreChannel Open(string address, GrpcClientOptions options)
    {
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
        if (address.StartsWith("grpc+unix://", StringComparison.Ordinal))
        {
            string path = address["grpc+unix://".Length..];
            if (!path.StartsWith('/') || path.Length < 2)
                throw new FormatException($"'{address}': a unix socket address is grpc+unix:///ABSOLUTE/PATH");
            var endpoint = new UnixDomainSocketEndPoint(path);
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
        }
        else if (address.StartsWith("grpc+http://", StringComparison.Ordinal))
        {
            string hostPort = address["grpc+http://".Length..].TrimEnd('/');
            if (!Uri.TryCreate("http://" + hostPort, UriKind.Absolute, out var uri) || uri.AbsolutePath != "/" || hostPort.Length == 0
                || !hostPort.Contains(':'))
                throw new FormatException($"'{address}': a gRPC address is grpc+http://HOST:PORT");
            httpAddress = "http://" + hostPort;
            handler.ConnectCallback = ConnectTcp;
        }
        else if (address.StartsWith("grpc+https://", StringComparison.Ordinal))
        {
            StoreAddress parsed = StoreAddress.Parse(address);
            httpAddress = $"https://{parsed.Host}:{parsed.Port}";
            handler.ConnectCallback = ConnectTcp; // the handler runs TLS over the stream it returns
            handler.SslOptions = GrpcTlsClientOptions.Create(parsed);
        }
        else
        {
            throw new FormatException($"'{address}': not a grpc+http://, grpc+https:// or grpc+unix:// address");
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
    /// Translates a failed call into the store's exceptions: NOT_FOUND, INVALID_ARGUMENT and
    /// everything that means "the store is not answering" (naming the address).
    /// </summary>
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
