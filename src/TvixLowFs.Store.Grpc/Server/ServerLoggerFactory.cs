using Microsoft.Extensions.Logging;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// The loggers of our Kestrel servers (the daemon, nar-bridge): our own categories at the level
/// the caller chose (one line per request at debug), ASP.NET Core, Kestrel and gRPC internals only
/// from warning up, so <c>--log-level Debug</c> shows requests, not routing and connection chatter.
/// </summary>
public sealed class ServerLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName)
    {
        var logger = inner.CreateLogger(categoryName);
        if (categoryName.StartsWith("TvixLowFs", StringComparison.Ordinal))
            return logger;
        // A host that fails to start throws to our caller, who reports it once; don't log it twice.
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
