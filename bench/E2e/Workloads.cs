using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace TvixLowFs.Bench.E2e;

/// <summary>The five workloads of issue 5, each over plain tools so every system is read alike.</summary>
internal enum Workload
{
    W1ColdSequentialRead,
    W2WarmReread,
    W3ColdMetadataWalk,
    W4ColdTreeRead,
    W5ConcurrentQuarterReads,
}

internal static partial class Workloads
{
    /// <summary>A workload still running after this is stuck (a request the server never answered), not slow.</summary>
    public static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    public static string Title(Workload workload) => workload switch
    {
        Workload.W1ColdSequentialRead => "W1 cold sequential read (dd bs=1M)",
        Workload.W2WarmReread => "W2 warm re-read, same mount",
        Workload.W3ColdMetadataWalk => "W3 cold metadata walk (find -printf)",
        Workload.W4ColdTreeRead => "W4 cold full-tree read (tar | wc -c)",
        Workload.W5ConcurrentQuarterReads => "W5 4 concurrent quarter readers (cold)",
        _ => throw new ArgumentOutOfRangeException(nameof(workload)),
    };

    public static string Unit(Workload workload) => workload == Workload.W3ColdMetadataWalk ? "entries/s" : "MiB/s";

    /// <summary>
    /// W1/W2: `dd if=FILE of=/dev/null bs=1M`. W1 (cold) is timed from dd's start to its exit, so it
    /// includes open(): a remote mount may fetch the whole blob there, which dd's own figure
    /// (copying only) would hide. W2 (warm) uses dd's own figure: at page-cache speed the
    /// millisecond of process start would otherwise be a large part of what is measured.
    /// </summary>
    public static double SequentialRead(string file, long expectedBytes, bool includeOpen)
    {
        var result = ExternalCommand.Run("dd", [$"if={file}", "of=/dev/null", "bs=1M"], timeout: Limit).EnsureSuccess();
        var (bytes, seconds) = ParseDd(result);
        if (bytes != expectedBytes) throw new BenchmarkFailure($"dd read {bytes} bytes of {file}, expected {expectedBytes}");
        return bytes / (includeOpen ? result.Elapsed.TotalSeconds : seconds);
    }

    /// <summary>W3: `find TREE -printf '%s %m %y\n'`; entries per second, and the entry count must match the corpus.</summary>
    public static double MetadataWalk(string tree, long expectedEntries)
    {
        var (result, lines) = ExternalCommand.RunCountingLines("find", [tree, "-printf", "%s %m %y\n"], Limit);
        result.EnsureSuccess();
        if (lines != expectedEntries) throw new BenchmarkFailure($"find listed {lines} entries under {tree}, expected {expectedEntries}");
        return lines / result.Elapsed.TotalSeconds;
    }

    /// <summary>W4: `tar -cf - -C TREE . | wc -c` (pipefail, so a read error in tar fails the run); tar-stream bytes per second.</summary>
    public static (double BytesPerSecond, long ArchiveBytes) TreeRead(string tree, long minimumBytes)
    {
        var result = ExternalCommand.Run("bash", ["-c", "set -o pipefail; tar -cf - -C \"$1\" . | wc -c", "bash", tree], timeout: Limit);
        if (result.ExitCode != 0) throw new BenchmarkFailure($"`tar -cf - -C {tree} . | wc -c` exited with {result.ExitCode}: {CommandResult.FirstLines(result.StandardError)}");
        var bytes = long.Parse(result.StandardOutput.Trim(), CultureInfo.InvariantCulture);
        if (bytes < minimumBytes) throw new BenchmarkFailure($"tar of {tree} produced {bytes} bytes, less than the {minimumBytes} bytes of file content");
        return (bytes / result.Elapsed.TotalSeconds, bytes);
    }

    /// <summary>W5: four dd readers of the four quarters at once; aggregate bytes over wall time, start of the first to end of the last.</summary>
    public static double ConcurrentQuarterReads(string file, long fileBytes)
    {
        const int Readers = 4;
        var quarterMiB = fileBytes / Readers >> 20;
        var watch = Stopwatch.StartNew();
        var runs = Enumerable.Range(0, Readers)
            .Select(i => Task.Run(() => ExternalCommand.Run("dd", [$"if={file}", "of=/dev/null", "bs=1M", $"skip={i * quarterMiB}", $"count={quarterMiB}"], timeout: Limit)))
            .ToArray();
        Task.WaitAll(runs);
        watch.Stop();
        long total = 0;
        foreach (var run in runs) total += ParseDd(run.Result.EnsureSuccess()).Bytes;
        if (total != Readers * (quarterMiB << 20)) throw new BenchmarkFailure($"the four readers of {file} read {total} bytes, expected {Readers * (quarterMiB << 20)}");
        return total / watch.Elapsed.TotalSeconds;
    }

    private static (long Bytes, double Seconds) ParseDd(CommandResult result)
    {
        var match = DdSummary().Match(result.StandardError);
        if (!match.Success) throw new BenchmarkFailure($"could not read dd's summary: {CommandResult.FirstLines(result.StandardError)}");
        var bytes = long.Parse(match.Groups["bytes"].Value, CultureInfo.InvariantCulture);
        var seconds = double.Parse(match.Groups["seconds"].Value, CultureInfo.InvariantCulture);
        return (bytes, Math.Max(seconds, 1e-6));
    }

    [GeneratedRegex(@"(?<bytes>\d+) bytes .*copied, (?<seconds>[0-9.eE+-]+) s", RegexOptions.CultureInvariant)]
    private static partial Regex DdSummary();
}
