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

    /// <summary>gRPC deadline and the mount's read-through cache options.</summary>
    public RemoteStoreOptions Remote { get; } = new();

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
        return Opener(parseResult).Open(blobs, directories, pathInfos);
    }

    /// <summary>
    /// Opens services with the command line's remote options. The connector's own hold on its
    /// channels ends when the opener is done; the services keep theirs.
    /// </summary>
    public StoreOpener Opener(ParseResult parseResult)
    {
        using var remote = StoreConnectors.Remote(Remote.ClientOptions(parseResult, Environment));
        return new StoreOpener(remote, Remote.BinaryCacheOptions(parseResult, Environment, CreateLoggerFactory(parseResult)),
            new TvixLowFs.Store.ObjectStore.ObjectStoreConnector(Environment));
    }

    /// <summary>
    /// One cheap call, so an unreachable store is one clear line and a non-zero exit rather than a
    /// mount (or copy) whose every lookup fails. A binary cache's nix-cache-info is checked too.
    /// </summary>
    public static async Task ProbeAsync(IPathInfoService pathInfos, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pathInfos);
        using var probe = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        probe.CancelAfter(TimeSpan.FromSeconds(30));
        if (pathInfos is ISubstitutingPathInfoService substituting)
            await substituting.CheckReachableAsync(probe.Token);
        else
            await pathInfos.GetAsync(default, probe.Token);
    }

    /// <summary>
    /// The store for a mount: <see cref="OpenStore"/> with the local read-through cache in front of
    /// any grpc+ blob or directory service (unless <c>--no-cache</c>).
    /// </summary>
    public StoreServices OpenStoreForMount(ParseResult parseResult)
    {
        (StoreAddress blobs, StoreAddress directories, StoreAddress pathInfos) = Options.ResolveAddresses(parseResult, Environment);
        return Remote.WithCache(Opener(parseResult).Open(blobs, directories, pathInfos), parseResult, Environment, blobs, directories);
    }

    /// <summary>
    /// The store a daemon serves: <see cref="OpenStore"/>, with a read-through cache in front of a
    /// blob or directory service not on this machine (a bucket, another daemon) only when
    /// <c>--cache-dir</c> is given: a server fills no disk it was not told to.
    /// </summary>
    public StoreServices OpenStoreForDaemon(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        return parseResult.GetResult(Remote.CacheDirectory) is null ? OpenStore(parseResult) : OpenStoreForMount(parseResult);
    }

    /// <summary>Loggers writing one line per message to stderr at the <c>--log-level</c> chosen.</summary>
    public ILoggerFactory CreateLoggerFactory(ParseResult parseResult) =>
        new StderrLoggerFactory(Error, Options.LogLevelOf(parseResult));
}
