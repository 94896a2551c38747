using System.Globalization;
using System.Text;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// Renders a run as markdown in the e2e report's style: medians per side, each comparison as a
/// ratio against its peer measured in the same run with PASS/MISS against issue 12's target,
/// what was verified, and every raw sample.
/// </summary>
internal static class BinaryCacheReport
{
    private const double MiB = 1 << 20;
    private static readonly CultureInfo Culture = CultureInfo.InvariantCulture;

    public static string Render(BinaryCacheRecord run)
    {
        var fixtures = run.Fixtures;
        var text = new StringBuilder();
        run.Metadata.AppendHeader(text, $"TvixLowFs binary-cache benchmark ({fixtures.Corpus.Shape.Name} corpus)");
        text.AppendLine(Culture, $"- source: {run.Metadata.SourceRevision}");
        text.AppendLine(Culture, $"- tvixlowfs: `{run.Binary}`{(run.Options.Jobs is { } jobs ? $" (copy --jobs {jobs})" : " (copy with its default --jobs)")}; peer: {run.NixVersion} (Debian nix-bin), every call with `--option substituters ''`, its own XDG_CACHE_HOME, `--extra-experimental-features nix-command`, `--option build-users-group ''`");
        text.AppendLine(Culture, $"- corpus: {fixtures.Corpus.Describe()}");
        text.AppendLine(Culture, $"- caches (made by `nix copy --to 'file://DIR?compression=X&secret-key=…'`, xz as `{BinaryCacheFixtures.XzParameters}` (preset 1 compressed on every core, so that making the caches takes minutes, not hours; decompressed on one core by Nix and `xz -dc`), served by `python3 -m http.server --bind 127.0.0.1 PORT --directory DIR`, one server per cache): xz {fixtures.Xz.Describe()}; zstd {fixtures.Zstd.Describe()}; none: {fixtures.Uncompressed.Describe()}; first-byte path: xz {fixtures.BigXz.Describe()}, zstd {fixtures.BigZstd.Describe()}");
        text.AppendLine(Culture, $"- repetitions: {run.Options.Repetitions}; medians below. Before every sample: `sync; echo 3 > /proc/sys/vm/drop_caches` (the served cache files are read cold by both sides); every sample writes into fresh directories; the side that goes first alternates per repetition (tvixlowfs first in odd-numbered ones).");
        text.AppendLine("- timing: wall clock from spawn to exit (copy and restore: plus the `sync` after it; first byte: until `head -c1` returns); CPU: user + system seconds of the side's processes (getrusage of the children waited for; for the mount, the server's whole life, unmount included; python's http.server is not counted on either side)");
        if (run.TvixLowFsUnavailable is not null) text.AppendLine(Culture, $"- not measured: tvixlowfs: {Short(run.TvixLowFsUnavailable)}");
        foreach (var note in run.Notes) text.AppendLine(Culture, $"- note: {note}");
        foreach (var ((metric, side), reason) in run.Failures) text.AppendLine(Culture, $"- **FAILED**: {Title(run, metric)}, {side}: {Short(reason, 400)}");
        text.AppendLine();

        text.AppendLine("## Medians");
        text.AppendLine();
        text.AppendLine("| comparison | NAR MiB | tvixlowfs s | peer s | tvixlowfs MiB/s of NAR | peer MiB/s of NAR | tvixlowfs CPU s | peer CPU s |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var scenario in run.Scenarios)
        {
            text.AppendLine(Culture, $"| {scenario.Title} | {scenario.NarBytes / MiB:0.0} | {Seconds(run, scenario, BinaryCacheRun.TvixLowFs)} | {Seconds(run, scenario, BinaryCacheRun.Peer)} | {Rate(run, scenario, BinaryCacheRun.TvixLowFs)} | {Rate(run, scenario, BinaryCacheRun.Peer)} | {Seconds(run, scenario, BinaryCacheRun.TvixLowFs + BinaryCacheRun.CpuSuffix)} | {Seconds(run, scenario, BinaryCacheRun.Peer + BinaryCacheRun.CpuSuffix)} |");
        }
        text.AppendLine();

        text.AppendLine("## Targets (issues 12 and 13)");
        text.AppendLine();
        text.AppendLine("| target | measured | wanted | result |");
        text.AppendLine("|---|---:|---:|---|");
        foreach (var scenario in run.Scenarios)
        {
            var (measured, result) = Evaluate(run, scenario);
            text.AppendLine(Culture, $"| {scenario.TargetLabel} | {measured} | {(scenario.SpeedUp ? "≥ " : "≤ ")}{scenario.Threshold.ToString("0.0#", Culture)}× | {result} |");
        }
        text.AppendLine("| NAR reader allocating nothing per entry | see the micro suite | 0 B | (`dotnet run -c Release --project bench`) |");
        text.AppendLine("| NAR rendering from a warm local store, nothing allocated per chunk | see the micro suite | ≥ 1 GiB/s, 0 B | (`dotnet run -c Release --project bench -- --filter '*NarRendering*'`) |");
        text.AppendLine();

        text.AppendLine("## What each side ran");
        text.AppendLine();
        text.AppendLine("| comparison | tvixlowfs | peer |");
        text.AppendLine("|---|---|---|");
        foreach (var scenario in run.Scenarios) text.AppendLine(Culture, $"| {scenario.Title} | {scenario.TvixLowFsCommand} | {scenario.PeerCommand} |");
        text.AppendLine();

        text.AppendLine("## Verification (first repetition)");
        text.AppendLine();
        foreach (var line in run.Verification.Passed) text.AppendLine(Culture, $"- {line}");
        text.AppendLine(Culture, $"- mount → first byte: every sample's byte checked against {ClosureCorpus.SmallFileName}; the peers' pipelines run under `set -o pipefail`");
        foreach (var failure in run.Verification.Failed) text.AppendLine(Culture, $"- **VERIFICATION FAILED**: {Short(failure, 400)}");
        text.AppendLine();

        text.AppendLine("## Samples (every repetition, in order; seconds)");
        text.AppendLine();
        text.AppendLine("| comparison | side | samples |");
        text.AppendLine("|---|---|---|");
        foreach (var (metric, side, values) in run.Measurements.All())
        {
            text.AppendLine(Culture, $"| {Title(run, metric)} | {side} | {string.Join(", ", values.Select(v => v.ToString("0.000", Culture)))} |");
        }
        return text.ToString();
    }

    /// <summary>Speed-ups are peer / tvixlowfs, first-byte ratios tvixlowfs / peer, both from medians of the same run.</summary>
    private static (string Measured, string Result) Evaluate(BinaryCacheRecord run, MeasuredScenario scenario)
    {
        if (run.TvixLowFsUnavailable is not null) return ("–", $"n/a ({Short(run.TvixLowFsUnavailable)})");
        foreach (var side in new[] { BinaryCacheRun.TvixLowFs, BinaryCacheRun.Peer })
        {
            if (run.Failures.TryGetValue((scenario.Metric, side), out var reason)) return ("–", $"**FAILED** ({side}: {Short(reason)})");
        }
        var tvix = run.Measurements.Median(scenario.Metric, BinaryCacheRun.TvixLowFs);
        var peer = run.Measurements.Median(scenario.Metric, BinaryCacheRun.Peer);
        if (tvix is not > 0 || peer is not > 0) return ("–", "n/a (no samples)");
        var ratio = scenario.SpeedUp ? peer.Value / tvix.Value : tvix.Value / peer.Value;
        var pass = scenario.SpeedUp ? ratio >= scenario.Threshold : ratio <= scenario.Threshold;
        return (ratio.ToString("0.00", Culture) + "×", pass ? "PASS" : "MISS");
    }

    private static string Seconds(BinaryCacheRecord run, MeasuredScenario scenario, string side) =>
        Cell(run, scenario, side, median => median.ToString("0.00", Culture));

    private static string Rate(BinaryCacheRecord run, MeasuredScenario scenario, string side) =>
        Cell(run, scenario, side, median => (scenario.NarBytes / MiB / median).ToString("#,0", Culture));

    private static string Cell(BinaryCacheRecord run, MeasuredScenario scenario, string side, Func<double, string> format)
    {
        if (side.StartsWith(BinaryCacheRun.TvixLowFs, StringComparison.Ordinal) && run.TvixLowFsUnavailable is not null) return "n/a";
        var failed = run.Failures.ContainsKey((scenario.Metric, side.Replace(BinaryCacheRun.CpuSuffix, "", StringComparison.Ordinal)));
        var median = run.Measurements.Median(scenario.Metric, side);
        if (median is null) return failed ? "failed" : "–";
        // Some repetitions failed: the median of the rest, marked.
        return format(median.Value) + (failed ? string.Create(Culture, $" ({run.Measurements.Samples(scenario.Metric, side).Count} of {run.Options.Repetitions} ran)") : "");
    }

    private static string Title(BinaryCacheRecord run, BinaryCacheMetric metric) =>
        run.Scenarios.FirstOrDefault(s => s.Metric == metric)?.Title ?? metric.ToString();

    /// <summary>A reason shortened for a table cell or list item: one line, pipes escaped.</summary>
    private static string Short(string reason, int length = 160)
    {
        var oneLine = reason.Replace("\n", "\\n", StringComparison.Ordinal);
        return (oneLine.Length <= length ? oneLine : oneLine[..(length - 3)] + "…").Replace("|", "\\|", StringComparison.Ordinal);
    }
}
