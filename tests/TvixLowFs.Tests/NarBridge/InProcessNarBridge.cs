using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using TvixLowFs.NarBridge;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.NarBridge;

/// <summary>
/// A real nar-bridge (Kestrel on a free loopback port) over a store the test owns, run in the test
/// process so its log lines can be checked: every line it logs is kept in <see cref="Lines"/>.
/// </summary>
internal sealed class InProcessNarBridge : IAsyncDisposable
{
    private readonly NarBridgeHost _host;

    private InProcessNarBridge(NarBridgeHost host, StoreServices store, RecordingLoggerFactory loggers)
    {
        _host = host;
        Store = store;
        Loggers = loggers;
    }

    public StoreServices Store { get; }

    private RecordingLoggerFactory Loggers { get; }

    public string BaseUrl => _host.BaseUrl;

    public NarBridgeHost Host => _host;

    public IReadOnlyCollection<(LogLevel Level, string Message)> Lines => Loggers.Lines;

    public string[] Warnings => [.. Loggers.Lines.Where(l => l.Level == LogLevel.Warning).Select(l => l.Message)];

    public string LogText => string.Join('\n', Loggers.Lines.Select(l => $"{l.Level}: {l.Message}"));

    /// <summary>Starts a bridge over <paramref name="store"/> (a fresh memory store when null).</summary>
    public static async Task<InProcessNarBridge> StartAsync(NarBridgeOptions options, StoreServices? store = null, string listen = "127.0.0.1:0")
    {
        store ??= new StoreOpener().Open(StoreAddress.Memory);
        var loggers = new RecordingLoggerFactory();
        var host = NarBridgeHost.Create(store, ListenAddress.Parse(listen), loggers, options);
        await host.StartAsync();
        return new InProcessNarBridge(host, store, loggers);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        await _host.DisposeAsync();
        await Store.DisposeAsync();
    }

    private sealed class RecordingLoggerFactory : ILoggerFactory
    {
        public ConcurrentQueue<(LogLevel Level, string Message)> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void AddProvider(ILoggerProvider provider) { }

        public void Dispose() { }

        private sealed class Logger(RecordingLoggerFactory owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Lines.Enqueue((logLevel, formatter(state, exception)));
        }
    }
}
