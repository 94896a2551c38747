using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using TvixLowFs.Store;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Bench.Nar;

/// <summary>One NAR ingested by both systems: medians over the repetitions, in MiB of NAR per second.</summary>
public sealed record NarRestoreSample(
    string Source, long NarBytes, double IngestMiBps, double RestoreMiBps, double RestoreAndSyncMiBps)
{
    /// <summary>Ingestion against plain <c>nix-store --restore</c>: the target is ≥ 1.0.</summary>
    public double Ratio => IngestMiBps / RestoreMiBps;
}

/// <summary>
/// NAR ingestion into a fresh <c>local://</c> store against real Nix's <c>nix-store --restore DIR &lt; NAR</c>
/// of the same NAR into a directory on the same filesystem (issue 12's first performance target).
/// </summary>
/// <remarks>
/// Each source path is dumped once with <c>nix-store --dump</c> into the work directory. Per repetition,
/// after a <c>sync</c> so neither side starts with the other's writeback: ingestion from the NAR held in
/// memory (<see cref="NarIngester"/> into a store directory that does not exist yet, timed in-process,
/// which includes every blob's fsync and the directories' durable graph put), then
/// <c>nix-store --restore</c> reading the NAR file from the page cache (it was just read; timed from spawn
/// to exit, so Nix's process start is included, about 10 ms). Nix 2.8 does not fsync what it restores,
/// so the Restore+sync column adds <c>sync -f</c> (syncfs of that filesystem) after it: the same
/// durability ingestion gives. The order of the two alternates per repetition.
/// <c>dotnet run -c Release --project bench -- nar-ingest [--work-dir DIR] [--repetitions N] PATH...</c>.
/// </remarks>
public static class NarRestoreComparison
{
    public static int Run(string[] args)
    {
        string workDir = Path.Combine(Path.GetTempPath(), "tvixlowfs-nar-bench");
        int repetitions = 3;
        var paths = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--work-dir" when i + 1 < args.Length: workDir = Path.GetFullPath(args[++i]); break;
                case "--repetitions" when i + 1 < args.Length: repetitions = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--help" or "-h":
                    Console.WriteLine("nar-ingest [--work-dir DIR] [--repetitions N] PATH...  (default paths: /usr/include, /usr/lib/python3.*, /usr/lib/x86_64-linux-gnu/libLLVM-*.so.1)");
                    return 0;
                default: paths.Add(args[i]); break;
            }
        }
        if (paths.Count == 0)
            paths.AddRange(DefaultSources());
        IReadOnlyList<NarRestoreSample> samples = MeasureAsync(paths, workDir, repetitions, Console.Out).GetAwaiter().GetResult();
        Console.WriteLine(Table(samples));
        return 0;
    }

    /// <summary>A tree of headers, the Python library, and one large file (whatever of these the machine has).</summary>
    public static IEnumerable<string> DefaultSources()
    {
        if (Directory.Exists("/usr/include"))
            yield return "/usr/include";
        foreach (string python in Directory.EnumerateDirectories("/usr/lib", "python3.*").Where(p => Path.GetFileName(p).Length > "python3.".Length).Order(StringComparer.Ordinal).Take(1))
            yield return python;
        // The library's name is a symlink; its target is the large file.
        foreach (string large in Directory.EnumerateFiles("/usr/lib/x86_64-linux-gnu", "libLLVM-*.so.1").Order(StringComparer.Ordinal).Take(1))
            yield return new FileInfo(large).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? large;
    }

    public static async Task<IReadOnlyList<NarRestoreSample>> MeasureAsync(IReadOnlyList<string> sources, string workDir, int repetitions, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(log);
        Directory.CreateDirectory(workDir);
        var samples = new List<NarRestoreSample>();
        foreach (string source in sources)
        {
            // Outputs stay until the run ends: an ext4 without a journal (as on the VM these numbers come
            // from) does not reuse inodes freed in the last minute, and files created right after a
            // large delete pay a scan each (see bench/E2e/README.md), which would penalise whichever side runs next.
            string sourceDir = Path.Join(workDir, $"source-{samples.Count}");
            Directory.CreateDirectory(sourceDir);
            string narPath = Path.Join(sourceDir, "source.nar");
            await RunAsync("bash", ["-c", "exec nix-store --option substituters '' --dump \"$1\" > \"$2\"", "dump", source, narPath], workDir).ConfigureAwait(false);
            byte[] nar = await File.ReadAllBytesAsync(narPath).ConfigureAwait(false);
            byte[] sha256 = SHA256.HashData(nar);
            var ingest = new List<double>();
            var restore = new List<double>();
            var restoreAndSync = new List<double>();
            for (int r = 0; r < repetitions; r++)
            {
                for (int side = 0; side < 2; side++)
                {
                    await RunAsync("sync", [], workDir).ConfigureAwait(false);
                    if ((side + r) % 2 == 0)
                        ingest.Add(await IngestSecondsAsync(nar, sha256, Path.Join(sourceDir, $"store-{r}")).ConfigureAwait(false));
                    else
                    {
                        (double plain, double synced) = await RestoreSecondsAsync(narPath, Path.Join(sourceDir, $"restore-{r}"), workDir).ConfigureAwait(false);
                        restore.Add(plain);
                        restoreAndSync.Add(synced);
                    }
                }
            }
            File.Delete(narPath);
            double mib = nar.Length / 1048576.0;
            var sample = new NarRestoreSample(source, nar.Length, mib / Median(ingest), mib / Median(restore), mib / Median(restoreAndSync));
            await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{source}: NAR {mib:F1} MiB; ingest {Seconds(ingest)}; restore {Seconds(restore)}; restore+sync {Seconds(restoreAndSync)}")).ConfigureAwait(false);
            samples.Add(sample);
        }
        await RunAsync("rm", ["-rf", .. Enumerable.Range(0, samples.Count).Select(i => Path.Join(workDir, $"source-{i}"))], workDir).ConfigureAwait(false);
        return samples;
    }

    public static string Table(IReadOnlyList<NarRestoreSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var text = new System.Text.StringBuilder();
        text.AppendLine("| NAR of | MiB | ingest MiB/s | nix-store --restore MiB/s | ratio (target ≥ 1.0) | restore + sync -f MiB/s | ratio |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (NarRestoreSample s in samples)
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {s.Source} | {s.NarBytes / 1048576.0:F1} | {s.IngestMiBps:F0} | {s.RestoreMiBps:F0} | {s.Ratio:F2} | {s.RestoreAndSyncMiBps:F0} | {s.IngestMiBps / s.RestoreAndSyncMiBps:F2} |"));
        }
        return text.ToString();
    }

    private static async Task<double> IngestSecondsAsync(byte[] nar, byte[] sha256, string storeDirectory)
    {
        var clock = Stopwatch.StartNew();
        await using StoreServices store = new StoreOpener().Open(StoreAddress.ForLocalDirectory(storeDirectory));
        NarIngestResult result = await new NarIngester(store.Blobs, store.Directories)
            .IngestAsync(new MemoryStream(nar, writable: false), (ulong)nar.Length).ConfigureAwait(false);
        double seconds = clock.Elapsed.TotalSeconds;
        if (!result.NarSha256.AsSpan().SequenceEqual(sha256) || result.NarSize != (ulong)nar.Length)
            throw new InvalidOperationException("the ingested NAR's hash or size differs from the NAR's");
        return seconds;
    }

    private static async Task<(double Plain, double Synced)> RestoreSecondsAsync(string narPath, string target, string workDir)
    {
        // Read the NAR first, so Nix reads it from the page cache as ingestion reads it from memory.
        await using (FileStream warm = File.OpenRead(narPath))
            await warm.CopyToAsync(Stream.Null).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        await RunAsync("bash", ["-c", "exec nix-store --option substituters '' --restore \"$1\" < \"$2\"", "restore", target, narPath], workDir).ConfigureAwait(false);
        double plain = clock.Elapsed.TotalSeconds;
        if (!Path.Exists(target) && new FileInfo(target).LinkTarget is null)
            throw new InvalidOperationException($"nix-store --restore made nothing at '{target}'");
        await RunAsync("sync", ["-f", Path.GetDirectoryName(target)!], workDir).ConfigureAwait(false);
        return (plain, clock.Elapsed.TotalSeconds);
    }

    private static async Task RunAsync(string program, string[] arguments, string workDir)
    {
        var start = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["XDG_CACHE_HOME"] = Path.Join(workDir, "xdg-cache");
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {program}");
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        await stdout.ConfigureAwait(false);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await stderr.ConfigureAwait(false)}");
    }

    private static double Median(List<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Seconds(List<double> values) =>
        string.Join(" ", values.Select(v => v.ToString("F3", CultureInfo.InvariantCulture))) + " s";
}
