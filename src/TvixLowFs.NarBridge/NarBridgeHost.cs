using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Services;

namespace TvixLowFs.NarBridge;

/// <summary>
/// nar-bridge: Kestrel serving a store as a Nix binary cache over HTTP/1.1 (what Nix's curl speaks)
/// on one TCP or unix socket address. Built on the empty ASP.NET Core builder with one request
/// delegate (<see cref="NarBridgeRouter"/>) and no routing or MVC, so nothing reflection-based is
/// pulled in (NativeAOT); the caller owns signals and the store.
/// </summary>
public sealed class NarBridgeHost : IAsyncDisposable
{
    public const string LoggerCategory = "TvixLowFs.NarBridge";

    private readonly WebApplication _app;
    private readonly ListenAddress _listen;
    private readonly ILogger _logger;
    private readonly NarBridgeRouter _router;

    private NarBridgeHost(WebApplication app, ListenAddress listen, ILogger logger, NarBridgeRouter router)
    {
        _app = app;
        _listen = listen;
        _logger = logger;
        _router = router;
    }

    /// <summary>The cache's URL for Nix, e.g. <c>http://127.0.0.1:9000</c> (the real port when 0 was asked); <c>unix://…</c> for a socket.</summary>
    public string BaseUrl { get; private set; } = "";

    /// <summary>How many uploaded NARs await their narinfo.</summary>
    public int ReceivedNarCount => _router.Received.Count;

    public static NarBridgeHost Create(StoreServices store, ListenAddress listen, ILoggerFactory loggerFactory, NarBridgeOptions options,
        TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(options);
        loggerFactory = new ServerLoggerFactory(loggerFactory);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddLogging();
        builder.Services.AddSingleton(loggerFactory); // the caller's factory wins over AddLogging's
        builder.Services.AddSingleton<IHostLifetime, CallerOwnedLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownGrace);
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // Uploads are bounded and timed per route (UploadBodyStream): a refusal there has a reason.
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Limits.MinRequestBodyDataRate = null;
            // A NAR download is as slow as the client's disk; Nix's curl has its own stall timeout.
            kestrel.Limits.MinResponseDataRate = null;
            // How far the renderer may run ahead of the socket (NarResponseStream flushes this much at a time).
            kestrel.Limits.MaxResponseBufferSize = NarResponseStream.FlushThreshold;
            if (listen.UnixPath is not null)
                kestrel.ListenUnixSocket(listen.UnixPath, o => o.Protocols = HttpProtocols.Http1);
            else
                kestrel.Listen(listen.Tcp!, o => o.Protocols = HttpProtocols.Http1);
        });

        var app = builder.Build();
        var logger = loggerFactory.CreateLogger(LoggerCategory);
        var router = new NarBridgeRouter(store, options, clock ?? TimeProvider.System, logger);
        app.Run(router.HandleAsync);
        return new NarBridgeHost(app, listen, logger, router);
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_listen.UnixPath is not null)
        {
            string? directory = Path.GetDirectoryName(_listen.UnixPath);
            if (directory is not null && !System.IO.Directory.Exists(directory))
                throw new IOException($"cannot listen on {_listen}: the directory {directory} does not exist");
            if (Path.Exists(_listen.UnixPath))
                throw new IOException($"cannot listen on {_listen}: {_listen.UnixPath} exists (remove a stale socket first)");
        }
        try
        {
            await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new IOException($"cannot listen on {_listen}: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new IOException($"cannot listen on {_listen}: {e.Message}", e);
        }
        if (_listen.UnixPath is not null)
        {
            BaseUrl = "unix://" + _listen.UnixPath;
        }
        else
        {
            BaseUrl = "http://" + _listen.HostAndBoundPort(_app.Services.GetRequiredService<IServer>());
        }
        _logger.LogInformation("serving the store as a Nix binary cache on {Address}", BaseUrl);
    }

    /// <summary>Stops accepting, lets in-flight requests finish for the shutdown grace, then cancels them.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_listen.UnixPath is not null)
        {
            try { File.Delete(_listen.UnixPath); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync().ConfigureAwait(false);

    private sealed class CallerOwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
