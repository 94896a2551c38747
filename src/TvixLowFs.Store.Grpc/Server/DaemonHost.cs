using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// The gRPC daemon: Kestrel serving the three tvix services over HTTP/2 (cleartext with prior
/// knowledge, or TLS) on one TCP or unix socket address, within <see cref="DaemonLimits"/> and the
/// <see cref="DaemonWritePolicy"/>. Built on the empty ASP.NET Core builder so
/// nothing reflection-based is pulled in (NativeAOT); the caller owns signals and the store.
/// </summary>
public sealed class DaemonHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ListenAddress _listen;
    private readonly ILogger _logger;
    private bool _tls;

    private DaemonHost(WebApplication app, ListenAddress listen, ILogger logger)
    {
        _app = app;
        _listen = listen;
        _logger = logger;
    }

    /// <summary>How long in-flight calls get to finish on stop before they are cancelled, unless told otherwise.</summary>
    public static TimeSpan DefaultShutdownGrace { get; } = TimeSpan.FromSeconds(5);

    /// <summary>The address clients use, e.g. <c>grpc+http://127.0.0.1:8000</c> (the real port when 0 was asked).</summary>
    public string ClientAddress { get; private set; } = "";

    /// <param name="blobBatch">
    /// Also serve our BlobBatchService extension (protos/tvixlowfs/blob_batch.proto). Off, the
    /// daemon answers like tvix-store: UNIMPLEMENTED for it, and clients read blob by blob.
    /// </param>
    /// <param name="options">Limits, <c>--read-only</c> and TLS; the defaults when null.</param>
    public static DaemonHost Create(StoreServices store, ListenAddress listen, ILoggerFactory loggerFactory, TimeSpan? shutdownGrace = null,
        bool blobBatch = true, DaemonOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(listen);
        options ??= DaemonOptions.Default;
        DaemonLimits limits = options.Limits;
        limits.Check();
        if (options.Tls is not null && listen.UnixPath is not null)
            throw new ArgumentException("TLS needs a TCP listen address; a unix socket is guarded by its file mode", nameof(options));
        // Read before anything listens, so a bad file is one error at start.
        var https = options.Tls?.Load();
        var writePolicy = new DaemonWritePolicy(options.ReadOnly, requireClientCertificate: options.Tls?.ClientCaFile is not null);
        var putSlots = new PutStreamSlots(limits.MaxConcurrentPuts);
        var narCalculator = new NarCalculator(store.Blobs, store.Directories, limits.MaxNarEntries);

        loggerFactory = new ServerLoggerFactory(loggerFactory);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddLogging();
        builder.Services.AddSingleton(loggerFactory); // the caller's factory wins over AddLogging's
        builder.Services.AddSingleton<IHostLifetime, CallerOwnedLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownGrace ?? DefaultShutdownGrace);
        builder.WebHost.UseKestrelCore();
        if (https is not null)
            builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // Long transfers are normal (a closure's directories, large blobs), slow ones are not. For
            // responses Kestrel judges each connection as a whole (a busy mount's many streams
            // together); request bodies of client streams it cannot judge (grpc-dotnet turns the rate
            // off for them), so Put streams check it themselves (StreamIdleTimer).
            MinDataRate? rate = limits.MinDataRate > 0 ? new MinDataRate(limits.MinDataRate, DaemonLimits.DataRateGrace) : null;
            kestrel.Limits.MinRequestBodyDataRate = rate;
            kestrel.Limits.MinResponseDataRate = rate;
            kestrel.Limits.MaxConcurrentConnections = limits.MaxConnections;
            kestrel.Limits.Http2.MaxStreamsPerConnection = limits.MaxStreamsPerConnection;
            // A blob read may run this far ahead of the socket (default 64 KiB: the reader would
            // wait for every chunk to be sent before reading the next).
            kestrel.Limits.MaxResponseBufferSize = 1L << 20;
            if (listen.UnixPath is not null)
                kestrel.ListenUnixSocket(listen.UnixPath, o => o.Protocols = HttpProtocols.Http2);
            else
                kestrel.Listen(listen.Tcp!, o =>
                {
                    o.Protocols = HttpProtocols.Http2;
                    if (https is not null)
                        o.UseHttps(https);
                });
        });
        builder.Services.Configure<SocketTransportOptions>(o => o.CreateBoundListenSocket = CreateBoundListenSocket);
        builder.Services.AddRoutingCore();
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = limits.MaxMessageBytes;
            o.MaxSendMessageSize = 64 * 1024 * 1024;
        }).AddServiceOptions<BlobBatchEndpoint>(o => o.MaxReceiveMessageSize = BlobBatchEndpoint.MaxRequestBytes);
        builder.Services.AddSingleton(sp => new BlobServiceEndpoint(store.Blobs, loggerFactory.CreateLogger<BlobServiceEndpoint>(), limits, writePolicy, putSlots));
        builder.Services.AddSingleton(sp => new DirectoryServiceEndpoint(store.Directories, loggerFactory.CreateLogger<DirectoryServiceEndpoint>(), limits, writePolicy, putSlots));
        builder.Services.AddSingleton(sp => new PathInfoServiceEndpoint(store.PathInfos, narCalculator, loggerFactory.CreateLogger<PathInfoServiceEndpoint>(), limits, writePolicy));
        if (blobBatch)
            builder.Services.AddSingleton(sp => new BlobBatchEndpoint(store.Blobs, loggerFactory.CreateLogger<BlobBatchEndpoint>(), limits));

        var app = builder.Build();
        var logger = loggerFactory.CreateLogger("TvixLowFs.Daemon");
        app.Use(async (HttpContext context, RequestDelegate next) =>
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            await next(context).ConfigureAwait(false);
            LogRequest(logger, context, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        });
        // max-message-bytes at each message's frame prefix (ReadBlobs keeps its own, smaller, fixed bound).
        app.Use(next => MessageSizeGuard.Wrap(next, limits.MaxMessageBytes, "/" + TvixLowFs.Protos.Extensions.BlobBatchService.Descriptor.FullName));
        app.UseRouting();
        app.MapGrpcService<BlobServiceEndpoint>();
        app.MapGrpcService<DirectoryServiceEndpoint>();
        app.MapGrpcService<PathInfoServiceEndpoint>();
        if (blobBatch)
            app.MapGrpcService<BlobBatchEndpoint>();
        return new DaemonHost(app, listen, logger) { _tls = https is not null };
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_listen.UnixPath is not null)
        {
            string? directory = Path.GetDirectoryName(_listen.UnixPath);
            if (directory is not null && !System.IO.Directory.Exists(directory))
                throw new IOException($"cannot listen on {_listen}: the directory {directory} does not exist");
            RemoveStaleSocket(_listen.UnixPath);
        }
        try
        {
            await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new IOException($"cannot listen on {_listen}: {e.Message}", e);
        }
        if (_listen.UnixPath is not null)
        {
            ClientAddress = "grpc+unix://" + _listen.UnixPath;
        }
        else
        {
            ClientAddress = $"{(_tls ? "grpc+https" : "grpc+http")}://{_listen.HostAndBoundPort(_app.Services.GetRequiredService<IServer>())}";
        }
        _logger.LogInformation("serving the tvix store protocol on {Address}", ClientAddress);
    }

    /// <summary>Stops accepting, lets in-flight calls finish for the shutdown grace, then cancels them.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_listen.UnixPath is not null)
            TryDelete(_listen.UnixPath);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private static void LogRequest(ILogger logger, HttpContext context, TimeSpan elapsed)
    {
        string? status = context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers["grpc-status"];
        if (string.IsNullOrEmpty(status))
            status = context.Response.Headers["grpc-status"];
        // NOT_FOUND, INVALID_ARGUMENT, ALREADY_EXISTS and PERMISSION_DENIED are answers, not daemon
        // errors; a limit hit (RESOURCE_EXHAUSTED) is logged at warning so an operator sees it.
        bool failed = status is not ("0" or "1" or "3" or "5" or "6" or "7");
        if (failed)
            logger.LogWarning("{Path} -> grpc-status {Status} (http {HttpStatus}) in {Milliseconds:0.#} ms",
                context.Request.Path.Value, status, context.Response.StatusCode, elapsed.TotalMilliseconds);
        else if (logger.IsEnabled(LogLevel.Debug))
            logger.LogDebug("{Path} -> grpc-status {Status} in {Milliseconds:0.#} ms", context.Request.Path.Value, status, elapsed.TotalMilliseconds);
    }

    /// <summary>
    /// Binds the unix socket and makes it owner-only before Kestrel listens on it, so no other
    /// user can ever connect; TCP endpoints are bound as Kestrel would.
    /// </summary>
    private static Socket CreateBoundListenSocket(EndPoint endpoint)
    {
        if (endpoint is not UnixDomainSocketEndPoint unix)
            return SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(unix);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(unix.ToString(), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A socket file left by a daemon that died is replaced; a live daemon's socket, or anything
    /// that is not a socket, is not.
    /// </summary>
    /// <summary>True when <paramref name="path"/> itself (not a symlink target) is a unix socket: .NET does not expose the file type.</summary>
    private static bool IsSocket(string path)
    {
        if (Interop.Libc.Statx(Interop.Libc.AT_FDCWD, path, Interop.Libc.AT_SYMLINK_NOFOLLOW, Interop.Libc.STATX_TYPE, out Interop.Libc.StatxBuffer buffer) != 0)
            throw new IOException($"cannot stat '{path}': {System.Runtime.InteropServices.Marshal.GetLastPInvokeErrorMessage()}");
        return (buffer.Mode & Interop.Libc.S_IFMT) == Interop.Libc.S_IFSOCK;
    }

    private static void RemoveStaleSocket(string path)
    {
        if (!Path.Exists(path))
            return;
        if (!IsSocket(path))
            throw new IOException($"{path} exists and is not a socket; not replacing it");
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            File.Delete(path);
            return;
        }
        throw new IOException($"{path}: another daemon is already listening there");
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private sealed class CallerOwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
