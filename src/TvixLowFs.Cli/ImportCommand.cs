using System.CommandLine;
using System.Diagnostics;
using TvixLowFs.Store.Import;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Cli;

/// <summary>
/// <c>tvixlowfs import PATH...</c>: prints one <c>/nix/store/&lt;hash&gt;-&lt;name&gt;</c> per PATH, the
/// path <c>nix-store --add PATH</c> gives. Every PATH is walked and checked before anything is
/// stored, and no PathInfo is put until every PATH's data is stored, so bad input registers nothing.
/// </summary>
public static class ImportCommand
{
    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var paths = new Argument<string[]>("PATH")
        {
            Description = "Files, symlinks or directory trees to import (symlinks are stored, not followed).",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("import", "Import paths into the store and print their Nix store paths.") { paths };
        command.SetAction(Program.Guarded(context, async (parseResult, cancellationToken) =>
        {
            string[] given = parseResult.GetValue(paths) ?? [];
            var plans = new ImportPlan[given.Length];
            for (int i = 0; i < given.Length; i++)
                plans[i] = ImportPlan.Create(given[i]);

            await using StoreServices store = context.OpenStore(parseResult);
            var importer = new PathImporter(store);
            // All data first, then all PathInfos: a path that fails late (an unreadable file)
            // leaves none of the paths registered.
            var prepared = new PreparedImport[plans.Length];
            for (int i = 0; i < plans.Length; i++)
            {
                using var progress = context.ErrorIsTerminal ? new TerminalProgress(context.Error, plans[i].SourcePath) : null;
                prepared[i] = await importer.PrepareAsync(plans[i], progress is null ? null : progress.Report, cancellationToken);
            }
            foreach (PreparedImport import in prepared)
            {
                await importer.RegisterAsync(import, cancellationToken);
                await context.Out.WriteLineAsync(import.StorePath.AbsolutePath.AsMemory(), cancellationToken);
            }
            await context.Out.FlushAsync(cancellationToken);
            return 0;
        }));
        return command;
    }

    /// <summary>A single progress line on a terminal's stderr, redrawn at most a few times a second.</summary>
    private sealed class TerminalProgress(TextWriter error, string path) : IDisposable
    {
        private readonly Lock _lock = new();
        private readonly Stopwatch _sinceDrawn = Stopwatch.StartNew();
        private bool _drawn;

        public void Report(ImportProgress progress)
        {
            lock (_lock)
            {
                if (_drawn && _sinceDrawn.ElapsedMilliseconds < 200 && progress.FilesDone != progress.FilesTotal)
                    return;
                error.Write($"\r\x1b[Kimporting {path}: {progress.FilesDone}/{progress.FilesTotal} files, {progress.BytesDone / 1048576.0:F1}/{progress.BytesTotal / 1048576.0:F1} MiB");
                error.Flush();
                _drawn = true;
                _sinceDrawn.Restart();
            }
        }

        public void Clear()
        {
            lock (_lock)
            {
                if (_drawn)
                    error.Write("\r\x1b[K");
                _drawn = false;
            }
        }

        public void Dispose() => Clear();
    }
}
