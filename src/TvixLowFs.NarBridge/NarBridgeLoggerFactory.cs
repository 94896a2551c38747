using Microsoft.Extensions.Logging;

namespace TvixLowFs.NarBridge;

/// <summary>
/// nar-bridge's loggers: its own category at the level the caller chose (one line per request at
/// debug), ASP.NET Core and Kestrel only from warning up, so <c>--log-level Debug</c> shows requests,
/// not connection chatter. (The daemon's DaemonLoggerFactory does the same for gRPC; it is internal there.)
/// </summary>
internal sealed class NarBridgeLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName)
    {
        var logger = inner.CreateLogger(categoryName);
        if (categoryName.StartsWith("TvixLowFs", StringComparison.Ordinal))
            return logger;
        // A host that fails to start throws to our caller, who reports it once.
        if (categoryName.StartsWith("Microsoft.Extensions.Hosting", StringComparison.Ordinal))
            return Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        return new AtLeastWarning(logger);
    }

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    // The caller owns the inner factory.
    public void Dispose() { }

    private sealed class AtLeastWarning(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning && inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
