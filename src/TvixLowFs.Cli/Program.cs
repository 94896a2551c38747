using System.CommandLine;
using System.CommandLine.Parsing;

namespace TvixLowFs.Cli;

/// <summary>
/// <c>tvixlowfs</c>: import paths into a store, mount a store through FUSE, serve it over gRPC.
/// Every failure is one line on stderr and a non-zero exit: 1 for a failed operation, 2 for a
/// command line that does not parse. No stack traces reach the user.
/// </summary>
public static class Program
{
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;

    public static Task<int> Main(string[] args) => RunAsync(args, CliContext.FromConsole());

    /// <summary>Runs one command line against the given context (tests pass their own writers and environment).</summary>
    public static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        RootCommand root = CreateRootCommand(context);
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            string errors = string.Join("; ", parsed.Errors.Select(e => e.Message.ReplaceLineEndings(" ").TrimEnd('.')));
            context.Error.WriteLine($"tvixlowfs: {errors} (see tvixlowfs --help)");
            return ExitUsage;
        }
        var invocation = new InvocationConfiguration
        {
            Output = context.Out,
            Error = context.Error,
            EnableDefaultExceptionHandler = false,
        };
        return await parsed.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
    }

    public static RootCommand CreateRootCommand(CliContext context)
    {
        var root = new RootCommand(
            "tvixlowfs: a tvix content-addressed store (blobs, directories, PathInfos) with a read-only FUSE mount.\n" +
            "Store addresses: memory://, local:///ABS/DIR (the default, " + CommonOptions.DefaultStoreDescription + "), " +
            "grpc+http://HOST:PORT, grpc+unix:///ABS/SOCKET; for PathInfos also a Nix binary cache, nix+http(s)://HOST[:PORT][/PATH]?trusted-public-keys=NAME:KEY.");
        context.Options.AddTo(root);
        context.Remote.AddTo(root);
        // One line per command.
        root.Add(ImportCommand.Create(context));
        root.Add(MountCommand.Create(context));
        root.Add(DaemonCommand.Create(context));
        root.Add(VerifyCommand.Create(context));
        root.Add(CopyCommand.Create(context));
        root.Add(NarBridgeCommand.Create(context));
        return root;
    }

    /// <summary>
    /// Wraps a command's body so that any failure is one line on stderr and exit code 1. Commands
    /// throw with messages written for the user (naming the path, address or object at fault).
    /// </summary>
    public static Func<ParseResult, CancellationToken, Task<int>> Guarded(CliContext context, Func<ParseResult, CancellationToken, Task<int>> body)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(body);
        return async (parseResult, cancellationToken) =>
        {
            try
            {
                return await body(parseResult, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                context.Error.WriteLine("tvixlowfs: interrupted");
                return 130;
            }
            catch (Exception e)
            {
                context.Error.WriteLine("tvixlowfs: " + OneLine(e));
                return ExitFailure;
            }
        };
    }

    /// <summary>The user-facing line for an exception: its message, flattened (aggregates unwrapped).</summary>
    public static string OneLine(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        while (exception is AggregateException { InnerExceptions.Count: 1 } aggregate)
            exception = aggregate.InnerExceptions[0];
        string message = (exception is IOException or UnauthorizedAccessException
            ? TvixLowFs.Store.SystemErrorText.Of(exception)
            : exception.Message).ReplaceLineEndings(" ");
        return exception switch
        {
            TvixLowFs.Store.Import.ImportException or TvixLowFs.Store.StoreAddressException
                or TvixLowFs.Store.Services.StoreUnavailableException or TvixLowFs.Store.Services.StoreNotFoundException
                or TvixLowFs.Store.Model.StoreValidationException or IOException or UnauthorizedAccessException => message,
            _ => $"unexpected {exception.GetType().Name}: {message}",
        };
    }
}
