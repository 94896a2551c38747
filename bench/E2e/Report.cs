using System.Globalization;
using System.Text;

namespace TvixLowFs.Bench.E2e;

/// <summary>Everything one run produced, as the report needs it.</summary>
internal sealed class RunRecord
{
    public required RunMetadata Metadata { get; init; }
    public required CorpusShape Shape { get; init; }
    public required int Repetitions { get; init; }
    public required string Binary { get; init; }
    public required FileSystemUnderTest Native { get; init; }
    public required FileSystemUnderTest Squashfuse { get; init; }
    public required FileSystemUnderTest TvixLowFs { get; init; }
    public required FileSystemUnderTest RemoteCold { get; init; }
    public required FileSystemUnderTest RemoteWarm { get; init; }
    /// <summary>The mounts over a link with latency, by round trip and protocol (issue 16 point 4).</summary>
    public IReadOnlyList<LatencyLink> Latency { get; init; } = [];
    /// <summary>The reference: libfuse's passthrough_ll over a copy of the native directory; not part of the targets.</summary>
    public required FileSystemUnderTest Passthrough { get; init; }
    public Measurements<Metric> Measurements { get; } = new();
    public List<string> Notes { get; } = [];
    /// <summary>Per system name: what it returned (first repetition).</summary>
    public Dictionary<string, ContentDigest> Digests { get; } = [];
    public List<string> VerificationFailures { get; } = [];
    /// <summary>What the reference could not read for verification; reported, not a failure of the run.</summary>
    public List<string> ReferenceProblems { get; } = [];
    /// <summary>Workloads that failed on a system that otherwise ran (first reason per metric and system).</summary>
    public Dictionary<(Metric Metric, string System), string> WorkloadFailures { get; } = [];

    public IEnumerable<FileSystemUnderTest> LocalSystems => [Native, Squashfuse, TvixLowFs, Passthrough];
    public IEnumerable<FileSystemUnderTest> AllSystems => [Native, Squashfuse, TvixLowFs, Passthrough, RemoteCold, RemoteWarm, .. Latency.Select(link => link.System)];

    public FileSystemUnderTest? LatencySystem(int roundTripMs, bool blobBatch) =>
        Latency.FirstOrDefault(link => link.RoundTripMs == roundTripMs && link.BlobBatch == blobBatch)?.System;
    public bool Failed =>
        VerificationFailures.Count > 0
        || WorkloadFailures.Keys.Any(k => !IsReference(k.System))
        || AllSystems.Any(s => s.FailureReason is not null && !s.IsReference);

    public bool IsReference(string systemName) => Passthrough.IsReference && Passthrough.Name == systemName;
}

/// <summary>A mount over a link with latency: its round trip, whether the daemon offers blob batches, and the system measured.</summary>
internal sealed record LatencyLink(int RoundTripMs, bool BlobBatch, FileSystemUnderTest System);

/// <summary>
/// Renders the run as markdown: medians per system, the targets of issue 5 with PASS/MISS, the
/// squashfuse_ll/native reference ratios, the verification digests and every raw sample.
/// </summary>
internal static class Report
{
    private const double MiB = 1 << 20;

    private sealed record Target(string Label, Metric Metric, FileSystemUnderTest System, FileSystemUnderTest? Baseline, Metric BaselineMetric, bool AtLeast, double Threshold, string Unit);

    public static string Render(RunRecord run)
    {
        var text = new StringBuilder();
        var culture = CultureInfo.InvariantCulture;
        run.Metadata.AppendHeader(text, $"TvixLowFs end-to-end benchmark ({run.Shape.Name} corpus)");
        text.AppendLine(culture, $"- corpus: {run.Shape.Describe()}");
        text.AppendLine(culture, $"- repetitions: {run.Repetitions}; medians below. Each cycle drops caches (`sync; echo 3 > /proc/sys/vm/drop_caches`) and mounts fresh; the system order rotates per repetition (A B C D, B C D A, C D A B, …).");
        text.AppendLine("- cycles per repetition: (1) W1, W2, W3 on one fresh mount (W1/W2 touch only big.bin, so W3's tree is still cold); (2) W4, W5 on another (W4 touches only tree/, so W5's file is still cold); (3) peak RSS: a fresh mount of each server runs W3 then W4, VmHWM read before unmounting; (4) remote: W1, then caches dropped again, W4, over grpc+unix with an empty cache directory; then the same after a remount with that cache warm; (5) links with latency: per round trip and protocol, W1 then W4 (caches dropped between) on a fresh mount over grpc+http through a delay proxy, with an empty cache directory.");
        text.AppendLine("- timing: W1 over dd's wall time, start to exit (includes open, where a remote mount may fetch); W2 by dd's own copy time; W3 entries/s and W4 tar-stream bytes/s over wall time; W5 the four readers' bytes over wall time; spawn → ready from process start to the mount listed in /proc/self/mountinfo with its root answering a stat.");
        text.AppendLine(culture, $"- source: {run.Metadata.SourceRevision}");
        text.AppendLine(culture, $"- tvixlowfs: `{run.Binary}`; squashfuse_ll: default (multi-threaded), foreground, over an image made with `mksquashfs -noI -noD -noF -noX -no-xattrs`");
        if (run.Passthrough is PassthroughMount passthrough)
        {
            text.AppendLine(culture, $"- passthrough_ll (the reference, not judged by the targets): {passthrough.Description}; run as `passthrough_ll -o source=DIR -o cache=always -f MNT` (default multi-threaded loop) over its own byte-identical copy of the corpus directory, so that its cold reads and native's never warm each other; {passthrough.DescriptorNote}");
        }
        foreach (var note in run.Notes) text.AppendLine(culture, $"- note: {note}");
        foreach (var system in run.AllSystems)
        {
            if (system.UnavailableReason is not null) text.AppendLine(culture, $"- not measured: {system.Name}: {system.UnavailableReason}");
            if (system.FailureReason is not null && system.IsReference) text.AppendLine(culture, $"- the reference {system.Name} stopped working: {system.FailureReason}");
            else if (system.FailureReason is not null) text.AppendLine(culture, $"- **FAILED**: {system.Name}: {system.FailureReason}");
        }
        foreach (var ((metric, system), reason) in run.WorkloadFailures)
        {
            // find's -printf argument ends in a newline, which would end the list item.
            var oneLine = reason.Replace("\n", "\\n", StringComparison.Ordinal);
            var escaped = oneLine.Replace("|", "\\|", StringComparison.Ordinal);
            if (run.IsReference(system)) text.AppendLine(culture, $"- the reference {system} could not run {metric} in every repetition (the run goes on): {Short(oneLine, 400)}");
            else text.AppendLine(culture, $"- **FAILED**: {metric} on {system}: {escaped}");
        }
        foreach (var problem in run.ReferenceProblems) text.AppendLine(culture, $"- the reference: {Short(problem.Replace("\n", "\\n", StringComparison.Ordinal), 400)}");
        text.AppendLine();

        text.AppendLine("## Medians");
        text.AppendLine();
        text.AppendLine("| workload | unit | native | squashfuse_ll | tvixlowfs | passthrough_ll (reference) |");
        text.AppendLine("|---|---|---:|---:|---:|---:|");
        foreach (var workload in Enum.GetValues<Workload>())
        {
            var metric = MetricOf(workload);
            text.AppendLine(culture, $"| {Title(workload)} | {Workloads.Unit(workload)} | {string.Join(" | ", run.LocalSystems.Select(s => Cell(run, metric, s)))} |");
        }
        foreach (var (label, metric) in new[] { ("spawn → ready, binary cached", Metric.SpawnWarm), ("spawn → ready, after drop_caches", Metric.SpawnCold), ("server peak RSS (VmHWM) over W3+W4", Metric.PeakResident) })
        {
            var unit = metric == Metric.PeakResident ? "MiB" : "ms";
            text.AppendLine(culture, $"| {label} | {unit} | – | {string.Join(" | ", run.LocalSystems.Skip(1).Select(s => Cell(run, metric, s)))} |");
        }
        text.AppendLine();

        text.AppendLine("## Remote (tvixlowfs mount over grpc+unix from a local `tvixlowfs daemon`)");
        text.AppendLine();
        text.AppendLine("| workload | unit | local store | remote, cache cold | remote, cache warm |");
        text.AppendLine("|---|---|---:|---:|---:|");
        foreach (var workload in new[] { Workload.W1ColdSequentialRead, Workload.W4ColdTreeRead })
        {
            var metric = MetricOf(workload);
            text.AppendLine(culture, $"| {Title(workload)} | {Workloads.Unit(workload)} | {Cell(run, metric, run.TvixLowFs)} | {Cell(run, metric, run.RemoteCold)} | {Cell(run, metric, run.RemoteWarm)} |");
        }
        text.AppendLine();

        if (run.Latency.Count > 0)
        {
            text.AppendLine("## A link with latency (issue 16: mount → delay proxy → `tvixlowfs daemon` on TCP, cache cold)");
            text.AppendLine();
            text.AppendLine("Every chunk each way is held for half the round trip by a TCP proxy in the harness (`DelayProxy`; no bandwidth cap); `--no-blob-batch` is the daemon serving only the three tvix services (one ReadBlob per file). Ratios are to the local-store mount of the same run.");
            text.AppendLine();
            text.AppendLine("| link | W1 MiB/s | W1 / local | W4 MiB/s | W4 / local |");
            text.AppendLine("|---|---:|---:|---:|---:|");
            foreach (var link in run.Latency)
            {
                text.AppendLine(culture, $"| {link.System.Name} | {Cell(run, Metric.W1, link.System)} | {Ratio(run, Metric.W1, link.System, run.TvixLowFs)} | {Cell(run, Metric.W4, link.System)} | {Ratio(run, Metric.W4, link.System, run.TvixLowFs)} |");
            }
            text.AppendLine();
        }

        text.AppendLine("## Targets (issue 5)");
        text.AppendLine();
        text.AppendLine("| target | measured | wanted | result |");
        text.AppendLine("|---|---:|---:|---|");
        foreach (var target in Targets(run))
        {
            var (measured, result) = Evaluate(run, target);
            var wanted = (target.AtLeast ? "≥ " : "≤ ") + target.Threshold.ToString("0.##", culture) + target.Unit;
            text.AppendLine(culture, $"| {target.Label} | {measured} | {wanted} | {result} |");
        }
        text.AppendLine("| allocations per request on hit paths | see the micro suite | 0 B | (`dotnet run -c Release --project bench`) |");
        text.AppendLine();

        text.AppendLine("## Reference ratios to native");
        text.AppendLine();
        text.AppendLine("squashfuse_ll / native: issue 5 measured 0.64, 0.43, 0.22, 0.48 (W1–W4) on this kind of machine. "
            + "passthrough_ll / native: what libfuse's own minimal low-level example (C, `cache=always`) reaches on this kernel over the same bytes in the same run; "
            + "where tvixlowfs misses a target, this column shows whether a minimal C libfuse server gets there at all. It is a reference only: the targets above compare with squashfuse_ll and native.");
        text.AppendLine();
        text.AppendLine("| workload | squashfuse_ll / native | tvixlowfs / native | passthrough_ll / native |");
        text.AppendLine("|---|---:|---:|---:|");
        foreach (var workload in Enum.GetValues<Workload>())
        {
            var metric = MetricOf(workload);
            text.AppendLine(culture, $"| {Title(workload)} | {Ratio(run, metric, run.Squashfuse, run.Native)} | {Ratio(run, metric, run.TvixLowFs, run.Native)} | {Ratio(run, metric, run.Passthrough, run.Native)} |");
        }
        text.AppendLine();

        text.AppendLine("## Verification (first repetition: every system must return identical bytes)");
        text.AppendLine();
        text.AppendLine("| system | big.bin SHA-256 | tree digest | tree entries | same as native |");
        text.AppendLine("|---|---|---|---:|---|");
        run.Digests.TryGetValue(run.Native.Name, out var reference);
        foreach (var (name, digest) in run.Digests)
        {
            var same = reference is null ? "?" : reference.BigFileSha256 == digest.BigFileSha256 && reference.TreeDigest == digest.TreeDigest ? "yes" : "**NO**";
            text.AppendLine(culture, $"| {name} | `{digest.BigFileSha256[..16]}…` | `{digest.TreeDigest[..16]}…` | {digest.TreeEntries.Count:N0} | {same} |");
        }
        foreach (var failure in run.VerificationFailures) text.AppendLine(culture, $"\n**VERIFICATION FAILED**: {failure}");
        text.AppendLine();

        text.AppendLine("## Samples (every repetition, in order)");
        text.AppendLine();
        text.AppendLine("| metric | system | samples |");
        text.AppendLine("|---|---|---|");
        foreach (var (metric, system, values) in run.Measurements.All())
        {
            text.AppendLine(culture, $"| {metric} | {system} | {string.Join(", ", values.Select(v => Format(metric, v)))} |");
        }
        return text.ToString();
    }

    private static IEnumerable<Target> Targets(RunRecord run) =>
    [
        new("W1 cold sequential read: tvixlowfs / squashfuse_ll", Metric.W1, run.TvixLowFs, run.Squashfuse, Metric.W1, true, 1.25, "×"),
        new("W2 warm re-read: tvixlowfs / native", Metric.W2, run.TvixLowFs, run.Native, Metric.W2, true, 0.6, "×"),
        new("W3 cold metadata walk: tvixlowfs / squashfuse_ll (entries/s)", Metric.W3, run.TvixLowFs, run.Squashfuse, Metric.W3, true, 2.0, "×"),
        new("W4 cold tree read: tvixlowfs / squashfuse_ll", Metric.W4, run.TvixLowFs, run.Squashfuse, Metric.W4, true, 1.5, "×"),
        new("W5 concurrent quarter readers: tvixlowfs / squashfuse_ll", Metric.W5, run.TvixLowFs, run.Squashfuse, Metric.W5, true, 1.0, "×"),
        new("spawn of `tvixlowfs mount` → ready, median (binary cached)", Metric.SpawnWarm, run.TvixLowFs, null, Metric.SpawnWarm, false, 25, " ms"),
        new("server peak RSS (VmHWM) during W3 and W4", Metric.PeakResident, run.TvixLowFs, null, Metric.PeakResident, false, 48, " MiB"),
        new("remote W1, cache cold / local", Metric.W1, run.RemoteCold, run.TvixLowFs, Metric.W1, true, 0.5, "×"),
        new("remote W4, cache cold / local", Metric.W4, run.RemoteCold, run.TvixLowFs, Metric.W4, true, 0.5, "×"),
        new("remote W1, cache warm / local", Metric.W1, run.RemoteWarm, run.TvixLowFs, Metric.W1, true, 0.9, "×"),
        new("remote W4, cache warm / local", Metric.W4, run.RemoteWarm, run.TvixLowFs, Metric.W4, true, 0.9, "×"),
        .. LatencyTargets(run),
    ];

    /// <summary>Issue 16 point 4's targets, for the round trips this run measured.</summary>
    private static IEnumerable<Target> LatencyTargets(RunRecord run)
    {
        if (run.LatencySystem(2, blobBatch: true) is { } near)
        {
            yield return new("2 ms RTT: remote W4, cache cold / local (issue 16)", Metric.W4, near, run.TvixLowFs, Metric.W4, true, 0.5, "×");
            yield return new("2 ms RTT: remote W1, cache cold / local (issue 16)", Metric.W1, near, run.TvixLowFs, Metric.W1, true, 0.8, "×");
        }
        if (run.LatencySystem(20, blobBatch: true) is { } far)
            yield return new("20 ms RTT: remote W4, cache cold / local (issue 16)", Metric.W4, far, run.TvixLowFs, Metric.W4, true, 0.25, "×");
    }

    private static (string Measured, string Result) Evaluate(RunRecord run, Target target)
    {
        foreach (var system in new[] { target.System, target.Baseline })
        {
            if (system is null) continue;
            if (system.UnavailableReason is not null) return ("–", $"n/a ({Short(system.Name + ": " + system.UnavailableReason)})");
            if (system.FailureReason is not null) return ("–", $"**FAILED** ({Short(system.Name + ": " + system.FailureReason)})");
            if (run.WorkloadFailures.TryGetValue((target.Metric, system.Name), out var failure)) return ("–", $"**FAILED** ({Short(system.Name + ": " + failure)})");
        }
        var value = run.Measurements.Median(target.Metric, target.System.Name);
        double? measured = value;
        if (target.Baseline is not null)
        {
            var baseline = run.Measurements.Median(target.BaselineMetric, target.Baseline.Name);
            measured = value is null || baseline is null || baseline == 0 ? null : value / baseline;
        }
        if (measured is null) return ("–", "n/a (no samples)");
        var shown = target.Baseline is not null
            ? measured.Value.ToString("0.00", CultureInfo.InvariantCulture) + "×"
            : Format(target.Metric, measured.Value) + target.Unit;
        // Thresholds are in the displayed unit (MiB for RSS); samples are kept in bytes.
        var comparable = target.Metric == Metric.PeakResident && target.Baseline is null ? measured.Value / MiB : measured.Value;
        var pass = target.AtLeast ? comparable >= target.Threshold : comparable <= target.Threshold;
        return (shown, pass ? "PASS" : "MISS");
    }

    private static string Ratio(RunRecord run, Metric metric, FileSystemUnderTest system, FileSystemUnderTest baseline)
    {
        var value = run.Measurements.Median(metric, system.Name);
        var reference = run.Measurements.Median(metric, baseline.Name);
        return value is null || reference is null || reference == 0 ? "–" : (value.Value / reference.Value).ToString("0.00", CultureInfo.InvariantCulture) + "×" + Partial(run, metric, system);
    }

    /// <summary>" (1 of 3 ran)" when some repetitions of a workload failed on the system, so a median of the rest says what it is.</summary>
    private static string Partial(RunRecord run, Metric metric, FileSystemUnderTest system) =>
        run.WorkloadFailures.ContainsKey((metric, system.Name)) && run.Measurements.Samples(metric, system.Name).Count is > 0 and var count
            ? string.Create(CultureInfo.InvariantCulture, $" ({count} of {run.Repetitions} ran)")
            : "";

    private static string Cell(RunRecord run, Metric metric, FileSystemUnderTest system)
    {
        if (system.UnavailableReason is not null) return "n/a";
        var median = run.Measurements.Median(metric, system.Name);
        if (system.FailureReason is not null || run.WorkloadFailures.ContainsKey((metric, system.Name)))
        {
            // The reference's failures are findings about it (see the header); what did run is still shown.
            return system.IsReference && median is not null ? Format(metric, median.Value) + Partial(run, metric, system) : "failed";
        }
        return median is null ? "–" : Format(metric, median.Value);
    }

    /// <summary>Throughputs in MiB/s, the walk in entries/s, spawn in ms, RSS in MiB.</summary>
    public static string Format(Metric metric, double value) => metric switch
    {
        Metric.W1 or Metric.W2 or Metric.W4 or Metric.W5 => (value / MiB).ToString("#,0", CultureInfo.InvariantCulture),
        Metric.W3 => value.ToString("#,0", CultureInfo.InvariantCulture),
        Metric.SpawnWarm or Metric.SpawnCold => value.ToString("0.0", CultureInfo.InvariantCulture),
        Metric.PeakResident => (value / MiB).ToString("0.0", CultureInfo.InvariantCulture),
        _ => value.ToString(CultureInfo.InvariantCulture),
    };

    public static Metric MetricOf(Workload workload) => workload switch
    {
        Workload.W1ColdSequentialRead => Metric.W1,
        Workload.W2WarmReread => Metric.W2,
        Workload.W3ColdMetadataWalk => Metric.W3,
        Workload.W4ColdTreeRead => Metric.W4,
        _ => Metric.W5,
    };

    /// <summary>The workload title with its shell pipe escaped, so it stays in one markdown cell.</summary>
    private static string Title(Workload workload) => Workloads.Title(workload).Replace("|", "\\|", StringComparison.Ordinal);

    /// <summary>A reason shortened for a table cell, its pipes escaped so the row stays whole.</summary>
    private static string Short(string reason, int length = 160) =>
        (reason.Length <= length ? reason : reason[..(length - 3)] + "…").Replace("|", "\\|", StringComparison.Ordinal);
}
