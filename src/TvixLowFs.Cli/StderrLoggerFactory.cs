using Microsoft.Extensions.Logging;

namespace TvixLowFs.Cli;

/// <summary>
/// One line per log message on stderr (synchronously, so nothing is lost at exit): enough for a
/// command-line tool, and free of the configuration binding the console logger drags into an AOT build.
/// </summary>
public sealed class StderrLoggerFactory(TextWriter error, LogLevel minimum) : ILoggerFactory
{
    private readonly TextWriter _error = error;
    private readonly LogLevel _minimum = minimum;
    private readonly Lock _writeLock = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, ShortCategory(categoryName));

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("the stderr logger has no providers");

    public void Dispose() { }

    private static string ShortCategory(string category)
    {
        int dot = category.LastIndexOf('.');
        return dot >= 0 ? category[(dot + 1)..] : category;
    }

    private sealed class Logger(StderrLoggerFactory factory, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= factory._minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            string message = formatter(state, exception).ReplaceLineEndings(" ");
            if (exception is not null)
                message += $" ({exception.GetType().Name}: {exception.Message.ReplaceLineEndings(" ")})";
            string level = logLevel switch
            {
                LogLevel.Trace => "trace",
                LogLevel.Debug => "debug",
                LogLevel.Information => "info",
                LogLevel.Warning => "warn",
                LogLevel.Error => "error",
                _ => "crit",
            };
            lock (factory._writeLock)
                factory._error.WriteLine($"tvixlowfs: {level}: {category}: {message}");
        }
    }
}
