using System.CommandLine;
using System.Diagnostics;
using TvixLowFs.Store;
using TvixLowFs.Store.BinaryCache;
using TvixLowFs.Store.Copy;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Cli;

/// <summary>
/// <c>tvixlowfs copy --from ADDR STOREPATH...</c>: substitutes each path and its whole closure from
/// any PathInfo address (a Nix binary cache, a tvix daemon, another local store) into the configured
/// services, printing each store path as it is registered. This is how a runner warms a closure
/// before its job starts; <c>mount</c> then serves it with no network.
/// </summary>
public static class CopyCommand
{
    /// <summary>
    /// Paths copied at once by default. A copy is bound by latency (a narinfo and a NAR request per
    /// path) and by decompression (about one core per xz stream): four keep a 2–4 core runner's
    /// cores busy while other paths wait on the network, without a burst of connections to the cache.
    /// </summary>
    public const int DefaultJobs = 4;

    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var from = new Option<string>("--from")
        {
            Description = "Where to copy from: nix+http(s)://HOST[/PATH]?trusted-public-keys=…, grpc+http://HOST:PORT, grpc+unix:///ABS/SOCKET or local:///ABS/DIR.",
            Required = true,
            HelpName = "ADDR",
        };
        var jobs = new Option<int>("--jobs")
        {
            Description = $"Store paths copied at once (default {DefaultJobs}).",
            DefaultValueFactory = _ => DefaultJobs,
            HelpName = "N",
        };
        var paths = new Argument<string[]>("STOREPATH")
        {
            Description = "Store paths to copy with their closures: /nix/store/<hash>-<name> or <hash>-<name>.",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("copy", "Copy store paths and their closures from another store or a Nix binary cache into this one.")
        {
            from, jobs, paths,
        };
        command.SetAction(Program.Guarded(context, async (parseResult, cancellationToken) =>
        {
            int jobCount = parseResult.GetValue(jobs);
            if (jobCount < 1)
                throw new IOException($"--jobs must be at least 1, got {jobCount}");
            StorePath[] roots = (parseResult.GetValue(paths) ?? []).Select(ParseStorePath).ToArray();
            StoreAddress source = StoreAddress.Parse(parseResult.GetValue(from)!);

            await using StoreServices destination = context.OpenStore(parseResult);
            await using ISubstitutionSource substitutes = await OpenSourceAsync(context, parseResult, source, destination, cancellationToken);
            var copier = new ClosureCopier(substitutes, destination.PathInfos, jobCount);
            CopyOutcome outcome;
            using (var progress = context.ErrorIsTerminal ? new TerminalProgress(context.Error, copier) : null)
            {
                outcome = await copier.CopyAsync(roots, path =>
                {
                    progress?.Clear();
                    lock (context.Out)
                    {
                        context.Out.WriteLine(path.AbsolutePath);
                        context.Out.Flush();
                    }
                }, cancellationToken);
            }
            if (outcome.Failures.Count > 0)
            {
                foreach ((string path, string reason) in outcome.Failures)
                    context.Error.WriteLine($"tvixlowfs: copy: {path}: {reason}");
                throw new IOException($"copy from '{source}' failed for {outcome.Failures.Count} path(s): {string.Join(", ", outcome.Failures.Select(f => f.Path))}");
            }
            return 0;
        }));
        return command;
    }

    private static StorePath ParseStorePath(string text)
    {
        string basename = text.StartsWith(StorePath.StoreDirectory + "/", StringComparison.Ordinal) ? text[(StorePath.StoreDirectory.Length + 1)..] : text;
        // A path inside a store path (…/bin/hello) names that store path.
        int slash = basename.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0 && text.StartsWith(StorePath.StoreDirectory + "/", StringComparison.Ordinal))
            basename = basename[..slash];
        return StorePath.TryParseBasename(basename, out StorePath? storePath)
            ? storePath
            : throw new IOException($"'{text}' is not a store path (/nix/store/<hash>-<name> or <hash>-<name>)");
    }

    /// <summary>The source: a binary cache substitutes into the destination's services; any other store is copied from.</summary>
    private static async Task<ISubstitutionSource> OpenSourceAsync(CliContext context, ParseResult parseResult, StoreAddress source,
        StoreServices destination, CancellationToken cancellationToken)
    {
        if (source.Kind == StoreAddressKind.NixHttp)
        {
            BinaryCacheOpenOptions options = context.Remote.BinaryCacheOptions(parseResult, context.Environment, context.CreateLoggerFactory(parseResult));
            var cache = new NixHttpPathInfoService(source, destination.Blobs, destination.Directories, destination.PathInfos,
                ownsKept: false, options.Http, options.Loggers?.CreateLogger("binary-cache"));
            try
            {
                await cache.CheckReachableAsync(cancellationToken);
            }
            catch
            {
                await cache.DisposeAsync();
                throw;
            }
            return new BinaryCacheSource(cache);
        }
        StoreServices services = context.Opener(parseResult).Open(source);
        try
        {
            await CliContext.ProbeAsync(services.PathInfos, cancellationToken);
        }
        catch
        {
            await services.DisposeAsync();
            throw;
        }
        return new StoreServicesSource(services, destination);
    }

    /// <summary>One progress line on a terminal's stderr: paths done/known, bytes downloaded and ingested, the rate.</summary>
    private sealed class TerminalProgress : IDisposable
    {
        private readonly TextWriter _error;
        private readonly ClosureCopier _copier;
        private readonly Stopwatch _elapsed = Stopwatch.StartNew();
        private readonly Timer _timer;
        private readonly Lock _lock = new();
        private bool _drawn;

        public TerminalProgress(TextWriter error, ClosureCopier copier)
        {
            _error = error;
            _copier = copier;
            _timer = new Timer(_ => Draw(), null, TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(250));
        }

        private void Draw()
        {
            lock (_lock)
            {
                CopyProgress progress = _copier.Progress;
                double seconds = Math.Max(_elapsed.Elapsed.TotalSeconds, 0.001);
                _error.Write($"\r\x1b[Kcopying: {progress.PathsDone}/{progress.PathsKnown} paths, {progress.BytesReceived / 1048576.0:F1} MiB received, " +
                             $"{progress.NarBytesDone / 1048576.0:F1} MiB ingested, {progress.BytesReceived / 1048576.0 / seconds:F1} MiB/s");
                _error.Flush();
                _drawn = true;
            }
        }

        public void Clear()
        {
            lock (_lock)
            {
                if (_drawn)
                    _error.Write("\r\x1b[K");
                _drawn = false;
            }
        }

        public void Dispose()
        {
            _timer.Dispose();
            Clear();
        }
    }
}
