using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// Issue 16 point 2: how fast a store is filled. `tvixlowfs import` of the corpus's tree and of its
/// big file, against real Nix's `nix-store --add` into a chroot store and `mksquashfs` (no
/// compression), each onto a fresh ext4 (<see cref="ScratchFileSystem"/>) with the input warm in
/// the page cache, timed from process start to the end of a `sync` after it (so what one tool
/// leaves dirty is paid for, as a durable store pays for it). Rounds rotate the tool order; the
/// report gives medians and the ratios the targets are stated in. tvixlowfs's printed store path
/// must equal Nix's, or the run fails.
/// </summary>
internal sealed class ImportComparison(BenchmarkOptions options, Corpus corpus, string profile, string binary)
{
    public const string Ours = "tvixlowfs import";
    public const string Baseline = "tvixlowfs import (baseline)";
    public const string Nix = "nix-store --add";
    public const string Squashfs = "mksquashfs";

    private readonly Dictionary<(string Input, string Tool), List<double>> seconds = [];
    private readonly Dictionary<(string Input, string Tool), string> unavailable = [];
    private readonly Dictionary<(string Input, string Tool), string> storePaths = [];

    public List<string> Failures { get; } = [];

    private IReadOnlyList<string> Tools => options.ImportBaseline is null ? [Ours, Nix, Squashfs] : [Ours, Baseline, Nix, Squashfs];

    private IReadOnlyList<(string Name, string Path)> Inputs =>
        [("tree", Path.Combine(corpus.Directory, corpus.TreeName)), (corpus.BigFileName, Path.Combine(corpus.Directory, corpus.BigFileName))];

    public void Run()
    {
        if (ScratchFileSystem.ToolsMissing(out var missing))
        {
            foreach (var (input, _) in Inputs)
                foreach (var tool in Tools) unavailable[(input, tool)] = missing;
            return;
        }
        var scratchDirectory = Path.Combine(profile, "import");
        for (var round = 0; round < options.Repetitions; round++)
        {
            var order = Tools.Skip(round % Tools.Count).Concat(Tools.Take(round % Tools.Count)).ToList();
            foreach (var (input, source) in Inputs)
            {
                Log($"import round {round + 1}/{options.Repetitions}, {input}: {string.Join(", ", order)}");
                foreach (var tool in order)
                {
                    if (unavailable.ContainsKey((input, tool))) continue;
                    WarmInput(source);
                    using var scratch = ScratchFileSystem.Create(scratchDirectory);
                    try
                    {
                        var (elapsed, storePath) = Measure(tool, source, scratch.MountPoint);
                        Add(input, tool, elapsed.TotalSeconds);
                        if (storePath is not null) storePaths.TryAdd((input, tool), storePath);
                    }
                    catch (SystemUnavailable e)
                    {
                        unavailable[(input, tool)] = e.Message;
                    }
                }
            }
        }
        CheckStorePaths();
    }

    /// <summary>The tool's run and the `sync` after it; the store path it printed, for the importers.</summary>
    private (TimeSpan Elapsed, string? StorePath) Measure(string tool, string source, string scratch)
    {
        // What earlier runs left dirty is not this tool's to write back.
        ExternalCommand.Run("sync", []).EnsureSuccess();
        var watch = Stopwatch.StartNew();
        var result = tool switch
        {
            Ours => RunImporter(binary, source, scratch),
            Baseline => RunImporter(options.ImportBaseline!, source, scratch),
            Nix => RunNix(source, scratch),
            _ => RunSquashfs(source, scratch),
        };
        ExternalCommand.Run("sync", []).EnsureSuccess();
        watch.Stop();
        if (result.ExitCode != 0) throw new BenchmarkFailure($"`{result.Command}` exited with {result.ExitCode}: {CommandResult.FirstLines(result.StandardError)}");
        var storePath = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .LastOrDefault(l => l.StartsWith("/nix/store/", StringComparison.Ordinal));
        if (tool != Squashfs && storePath is null) throw new BenchmarkFailure($"`{result.Command}` printed no /nix/store path");
        return (watch.Elapsed, storePath);
    }

    private static CommandResult RunImporter(string program, string source, string scratch)
    {
        if (!File.Exists(program)) throw new SystemUnavailable($"no binary at {program} (run ./build.sh)");
        var store = "local://" + Path.Combine(scratch, "store");
        return ExternalCommand.Run(program, ["import", source], TvixLowFsStore.Addresses(store), TimeSpan.FromMinutes(20));
    }

    private static CommandResult RunNix(string source, string scratch)
    {
        if (!ExternalCommand.OnPath("nix-store")) throw new SystemUnavailable("nix-store is not installed (apt install nix-bin)");
        // A chroot store on the scratch file system, no substituters, its own cache; no build users (nothing is built).
        var environment = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = Path.Combine(scratch, "nix-cache") };
        return ExternalCommand.Run("nix-store",
            ["--store", Path.Combine(scratch, "nix-root"), "--option", "substituters", "", "--option", "build-users-group", "", "--add", source],
            environment, TimeSpan.FromMinutes(20));
    }

    private static CommandResult RunSquashfs(string source, string scratch)
    {
        if (!ExternalCommand.OnPath("mksquashfs")) throw new SystemUnavailable("mksquashfs is not installed (apt install squashfs-tools)");
        return ExternalCommand.Run("mksquashfs",
            [source, Path.Combine(scratch, "image.sqsh"), "-noI", "-noD", "-noF", "-noX", "-no-xattrs", "-quiet"],
            timeout: TimeSpan.FromMinutes(20));
    }

    /// <summary>Reads every file of the input once, so each tool starts with it in the page cache.</summary>
    private static void WarmInput(string source)
    {
        var buffer = new byte[1 << 20];
        IEnumerable<string> files = File.Exists(source)
            ? [source]
            : Directory.EnumerateFiles(source, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 });
        foreach (var file in files)
        {
            if (new FileInfo(file).LinkTarget is not null) continue;
            try
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                while (stream.Read(buffer) > 0) { }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Then the tools meet it cold or fail on it themselves; warming is only a courtesy.
            }
        }
    }

    private void CheckStorePaths()
    {
        foreach (var (input, _) in Inputs)
        {
            if (!storePaths.TryGetValue((input, Nix), out var nix)) continue;
            foreach (var tool in new[] { Ours, Baseline })
            {
                if (storePaths.TryGetValue((input, tool), out var ours) && ours != nix)
                    Failures.Add($"{tool} of {input} printed {ours}, nix-store --add printed {nix}");
            }
        }
    }

    private void Add(string input, string tool, double value)
    {
        if (!seconds.TryGetValue((input, tool), out var list)) seconds[(input, tool)] = list = [];
        list.Add(value);
    }

    private double? Median(string input, string tool)
    {
        if (!seconds.TryGetValue((input, tool), out var list) || list.Count == 0) return null;
        var sorted = list.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>The report's section: medians, the target ratios (peer time / ours: above 1 is faster than the peer), every sample.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        text.AppendLine("## Import speed (issue 16 point 2)");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Each sample: a fresh ext4 on a loop device, the input warm, the tool's run plus a `sync` after it; {options.Repetitions} rounds in rotating tool order, medians. Ratio = the peer's time / ours (above 1: ours is faster).");
        text.AppendLine();
        var header = new StringBuilder("| input |");
        var rule = new StringBuilder("|---|");
        foreach (var tool in Tools)
        {
            header.Append(CultureInfo.InvariantCulture, $" {tool} (s) |");
            rule.Append("---:|");
        }
        header.Append(" Nix / ours (target ≥ 1.5) | mksquashfs / ours (target ≥ 0.5) |");
        rule.Append("---|---|");
        if (options.ImportBaseline is not null)
        {
            header.Append(" baseline / ours |");
            rule.Append("---:|");
        }
        text.AppendLine(header.ToString());
        text.AppendLine(rule.ToString());
        foreach (var (input, _) in Inputs)
        {
            var row = new StringBuilder().Append(CultureInfo.InvariantCulture, $"| {input} |");
            foreach (var tool in Tools)
                row.Append(CultureInfo.InvariantCulture, $" {Cell(input, tool)} |");
            row.Append(CultureInfo.InvariantCulture, $" {Ratio(input, Nix, 1.5)} | {Ratio(input, Squashfs, 0.5)} |");
            if (options.ImportBaseline is not null) row.Append(CultureInfo.InvariantCulture, $" {Ratio(input, Baseline, null)} |");
            text.AppendLine(row.ToString());
        }
        text.AppendLine();
        if (options.ImportBaseline is not null)
            text.AppendLine(CultureInfo.InvariantCulture, $"- baseline binary: `{options.ImportBaseline}`; measured binary: `{binary}`");
        foreach (var ((input, tool), list) in seconds.OrderBy(p => p.Key.Input, StringComparer.Ordinal).ThenBy(p => p.Key.Tool, StringComparer.Ordinal))
            text.AppendLine(CultureInfo.InvariantCulture, $"- samples, {input}, {tool}: {string.Join(", ", list.Select(v => v.ToString("0.00", CultureInfo.InvariantCulture)))} s");
        foreach (var (input, tool) in storePaths.Keys.Select(k => (k.Input, k.Tool)).Where(k => k.Tool == Nix))
            text.AppendLine(CultureInfo.InvariantCulture, $"- store path of {input}: `{storePaths[(input, tool)]}` (Nix and tvixlowfs agree{(Failures.Count > 0 ? " unless said below" : "")})");
        foreach (var failure in Failures) text.AppendLine(CultureInfo.InvariantCulture, $"- **FAILED**: {failure}");
        return text.ToString();
    }

    private string Cell(string input, string tool) =>
        unavailable.TryGetValue((input, tool), out var reason) ? $"n/a ({reason})"
        : Median(input, tool) is { } median ? median.ToString("0.00", CultureInfo.InvariantCulture) : "n/a";

    private string Ratio(string input, string peer, double? target)
    {
        if (Median(input, peer) is not { } theirs || Median(input, Ours) is not { } ours || ours <= 0) return "n/a";
        var ratio = theirs / ours;
        var verdict = target is { } t ? (ratio >= t ? " PASS" : " MISS") : "";
        return ratio.ToString("0.00", CultureInfo.InvariantCulture) + "×" + verdict;
    }

    private static void Log(string message) => Console.Error.WriteLine($"e2e {DateTime.UtcNow:HH:mm:ss}: {message}");
}
