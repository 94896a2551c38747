using System.CommandLine;
using Microsoft.Extensions.Logging;
using TvixLowFs.Store;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Cli;

/// <summary>
/// What a command needs from outside: where to write, the environment, whether stderr is a
/// terminal, and the options every command shares. Tests make their own; <c>Main</c> uses the console.
/// </summary>
public sealed class CliContext
{
    public required TextWriter Out { get; init; }
    public required TextWriter Error { get; init; }

    /// <summary>Environment lookup (store address variables, XDG_DATA_HOME, HOME).</summary>
    public required Func<string, string?> Environment { get; init; }

    /// <summary>True when stderr is a terminal: progress is shown only then.</summary>
    public bool ErrorIsTerminal { get; init; }

    public CommonOptions Options { get; } = new();

    public static CliContext FromConsole() => new()
    {
        Out = Console.Out,
        Error = Console.Error,
        Environment = System.Environment.GetEnvironmentVariable,
        ErrorIsTerminal = !Console.IsErrorRedirected,
    };

    /// <summary>Opens the store the common options and environment name (the default local store when nothing is given).</summary>
    public StoreServices OpenStore(ParseResult parseResult)
    {
        (StoreAddress blobs, StoreAddress directories, StoreAddress pathInfos) = Options.ResolveAddresses(parseResult, Environment);
        return new StoreOpener(StoreConnectors.Remote).Open(blobs, directories, pathInfos);
    }

    /// <summary>Loggers writing one line per message to stderr at the <c>--log-level</c> chosen.</summary>
    public ILoggerFactory CreateLoggerFactory(ParseResult parseResult) =>
        new StderrLoggerFactory(Error, Options.LogLevelOf(parseResult));
}
