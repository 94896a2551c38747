using System.Diagnostics;
using System.Globalization;
using TvixLowFs.Bench.E2e;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// One run: makes (or reuses) the caches, serves each with python's http.server on loopback, then
/// per repetition and comparison drops caches and measures both sides in alternating order, each
/// into fresh directories, verifies what they wrote (first repetition), and writes the report.
/// </summary>
internal sealed class BinaryCacheRun(BinaryCacheOptions options)
{
    public const string TvixLowFs = "tvixlowfs";
    public const string Peer = "peer";
    public const string CpuSuffix = " CPU";

    private BinaryCacheRecord run = null!;
    private NarBridgeFixtures? narBridge;
    private string? narBridgeUnavailable;
    private string? bridgeStore;
    private string bridgeFillFailure = "it was not attempted";
    private BinaryCacheFixtures fixtures = null!;
    private string binary = "";
    private string scratchRoot = "";

    public int Execute()
    {
        var metadata = new RunMetadata();
        var repository = BenchmarkOptions.RepositoryRoot();
        binary = options.Binary ?? Path.Combine(repository ?? Environment.CurrentDirectory, "artifacts", "tvixlowfs");
        var profile = Path.Combine(options.WorkDirectory, options.Shape.Name);
        Directory.CreateDirectory(profile);
        Teardown.RemoveStaleMounts(options.WorkDirectory);
        // Scratch stores of an interrupted run go first; this run's are deleted when it ends (see README).
        scratchRoot = Path.Combine(profile, "scratch");
        BinaryCacheFixtures.DeleteTree(scratchRoot);
        Directory.CreateDirectory(scratchRoot);

        var nixVersion = RealNix.Version() ?? throw new BenchmarkFailure("real Nix is not installed (apt install nix-bin, or ./build.sh bench)");
        foreach (var tool in new[] { "curl", "xz", "zstd", "python3", "bash", "head" })
        {
            if (!ExternalCommand.OnPath(tool)) throw new BenchmarkFailure($"{tool} is not installed (./build.sh bench installs what this benchmark needs)");
        }
        fixtures = BinaryCacheFixtures.Ensure(options.Shape, profile, nixVersion);
        run = new BinaryCacheRecord(metadata, options, fixtures, binary, nixVersion, ProbeCommand("copy"));
        var measuresNarBridge = options.Selects(BinaryCacheMetric.PushNarBridge) || options.Selects(BinaryCacheMetric.PullNarBridge);
        narBridgeUnavailable = run.TvixLowFsUnavailable ?? ProbeCommand("nar-bridge");
        if (measuresNarBridge) narBridge = NarBridgeFixtures.Ensure(fixtures, profile);
        metadata.DescribeSource(repository);
        if (metadata.BusyNote() is { } busy) run.Notes.Add(busy);

        using (var xz = StaticHttpServer.Start(fixtures.Xz.Directory))
        using (var zstd = StaticHttpServer.Start(fixtures.Zstd.Directory))
        using (var none = StaticHttpServer.Start(fixtures.Uncompressed.Directory))
        using (var bigXz = StaticHttpServer.Start(fixtures.BigXz.Directory))
        using (var bigZstd = StaticHttpServer.Start(fixtures.BigZstd.Directory))
        using (var closureNone = narBridge is null ? null : StaticHttpServer.Start(narBridge.ClosureNone.Directory))
        {
            try
            {
                var comparisons = Comparisons(xz, zstd, none, bigXz, bigZstd).Where(c => options.Selects(c.Scenario.Metric)).ToList();
                if (narBridge is not null)
                    comparisons.AddRange(NarBridgeComparisons(closureNone!).Where(c => options.Selects(c.Scenario.Metric)));
                run.Scenarios.AddRange(comparisons.Select(c => c.Scenario));
                if (narBridgeUnavailable is null && comparisons.Any(c => c.Scenario.Metric == BinaryCacheMetric.PullNarBridge))
                    FillBridgeStore();
                for (var repetition = 0; repetition < options.Repetitions; repetition++)
                {
                    Log($"repetition {repetition + 1}/{options.Repetitions}");
                    foreach (var comparison in comparisons)
                    {
                        // Alternate which side goes first, so neither always follows the other's writeback.
                        var sides = repetition % 2 == 0 ? new[] { TvixLowFs, Peer } : [Peer, TvixLowFs];
                        foreach (var side in sides)
                        {
                            if (side == TvixLowFs && run.TvixLowFsUnavailable is not null) continue;
                            if (side == TvixLowFs && comparison.Scenario.Metric is BinaryCacheMetric.PushNarBridge or BinaryCacheMetric.PullNarBridge && narBridgeUnavailable is not null)
                            {
                                run.Failures.TryAdd((comparison.Scenario.Metric, side), narBridgeUnavailable);
                                continue;
                            }
                            var sample = side == TvixLowFs ? comparison.TvixLowFs : comparison.Peer;
                            var verify = side == TvixLowFs ? comparison.VerifyTvixLowFs : comparison.VerifyPeer;
                            var scratch = Measure(comparison.Scenario, side, repetition, sample);
                            if (scratch is not null && repetition == 0) Verify(comparison.Scenario, side, () => verify(scratch));
                        }
                    }
                }
            }
            finally
            {
                BinaryCacheFixtures.DeleteTree(scratchRoot);
            }
        }

        metadata.Finish();
        Publish(BinaryCacheReport.Render(run), repository);
        if (run.Failed) Console.Error.WriteLine("binary-cache: FAILED (see the report)");
        return run.Failed ? 1 : 0;
    }

    private sealed record Comparison(MeasuredScenario Scenario, Func<string, TimeSpan> TvixLowFs, Func<string, TimeSpan> Peer, Action<string> VerifyTvixLowFs, Action<string> VerifyPeer);

    private List<Comparison> Comparisons(StaticHttpServer xz, StaticHttpServer zstd, StaticHttpServer none, StaticHttpServer bigXz, StaticHttpServer bigZstd)
    {
        var contents = fixtures.Uncompressed.Get(fixtures.ContentsPath);
        var jobs = options.Jobs is { } n ? $" --jobs {n}" : "";
        var copyCommand = $"`tvixlowfs copy --from 'nix+http://127.0.0.1:PORT?trusted-public-keys=KEY'{jobs} ROOT` into a fresh local:// store (blob, directory and PathInfo services, --cache-dir), then `sync`";
        const string NixCopyCommand = "`nix copy --from http://127.0.0.1:PORT --to DIR ROOT` (require-sigs, trusted-public-keys KEY) into a fresh chroot store, then `sync`";
        return
        [
            new(new(BinaryCacheMetric.CopyXz, "copy the closure, xz", copyCommand, NixCopyCommand, fixtures.Xz.NarBytes, SpeedUp: true, 1.5, "`tvixlowfs copy` vs `nix copy`, xz: speed-up"),
                s => TvixLowFsCopy(xz, fixtures.RootPath, s), s => NixCopy(xz, s), s => VerifyCopy(fixtures.Xz, s, hashEveryPath: true), s => VerifyNixCopy(s)),
            new(new(BinaryCacheMetric.CopyZstd, "copy the closure, zstd", copyCommand, NixCopyCommand, fixtures.Zstd.NarBytes, SpeedUp: true, 1.5, "`tvixlowfs copy` vs `nix copy`, zstd: speed-up"),
                s => TvixLowFsCopy(zstd, fixtures.RootPath, s), s => NixCopy(zstd, s), s => VerifyCopy(fixtures.Zstd, s, hashEveryPath: false), s => VerifyNixCopy(s)),
            new(new(BinaryCacheMetric.Ingest, "ingest one uncompressed NAR", $"`tvixlowfs copy` of the one path from the compression=none cache{jobs}, then `sync`", "`nix-store --restore DIR < NAR` from the cache directory, then `sync`", contents.NarSize, SpeedUp: true, 1.0, "NAR ingestion: tvixlowfs MiB/s / `nix-store --restore` MiB/s"),
                s => TvixLowFsCopy(none, fixtures.ContentsPath, s), s => NixRestore(Path.Combine(fixtures.Uncompressed.Directory, contents.NarUrl), s), s => VerifyCopy(fixtures.Uncompressed, s, hashEveryPath: true), s => VerifyRestore(contents, s)),
            FirstByte(BinaryCacheMetric.FirstByteXz, bigXz, fixtures.BigXz, "xz"),
            FirstByte(BinaryCacheMetric.FirstByteZstd, bigZstd, fixtures.BigZstd, "zstd"),
        ];
    }

    /// <summary>
    /// Issue 13: real Nix pushing the closure to `tvixlowfs nar-bridge --writable` (a fresh local
    /// store) against pushing it to a file:// cache, both compression=none; and real Nix pulling it
    /// from a nar-bridge over a store that holds it against pulling it from the compression=none
    /// file cache on python's static server, both with require-sigs. Neither server's start is timed.
    /// </summary>
    private List<Comparison> NarBridgeComparisons(StaticHttpServer closureNone)
    {
        var cache = narBridge!.ClosureNone;
        return
        [
            new(new(BinaryCacheMetric.PushNarBridge, "push the closure (nix copy --to), none",
                    "`nix copy --store SOURCE --to 'http://127.0.0.1:PORT?compression=none' ROOT` to `tvixlowfs nar-bridge --writable` over a fresh local:// store, then `sync`",
                    "`nix copy --store SOURCE --to 'file://DIR?compression=none' ROOT` into a fresh directory, then `sync`",
                    cache.NarBytes, SpeedUp: false, 1.25, "`nix copy --to` nar-bridge / `nix copy --to file://` (≥ 0.8× the speed)"),
                PushToNarBridge, PushToFileCache, VerifyPushed, VerifyFileCache),
            new(new(BinaryCacheMetric.PullNarBridge, "pull the closure (nix copy --from), none",
                    "`nix copy --from http://127.0.0.1:PORT --to DIR ROOT` (require-sigs, trusted-public-keys KEY) from `tvixlowfs nar-bridge` over a local:// store holding the closure, then `sync`",
                    "the same from the compression=none file cache made by `nix copy --to file://…` on `python3 -m http.server`, then `sync`",
                    cache.NarBytes, SpeedUp: true, 1.0, "`nix copy --from` nar-bridge vs `nix copy --from` a static cache: speed-up"),
                PullFromNarBridge, s => NixCopy(closureNone, s), VerifyNixCopy, VerifyNixCopy),
        ];
    }

    private TimeSpan PushToNarBridge(string scratch)
    {
        using var bridge = SpawnedNarBridge.Start(binary, LocalStore(scratch), writable: true);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var push = RealNix.Run("nix", Path.Combine(scratch, "xdg"), ["copy", "--store", narBridge!.PushSource, "--to", $"{bridge.BaseUrl}?compression=none", fixtures.RootPath]);
        if (push.ExitCode != 0) throw new BenchmarkFailure($"`nix copy --to {bridge.BaseUrl}` exited with {push.ExitCode}: {CommandResult.FirstLines(push.StandardError)} [nar-bridge stderr: {bridge.LastError()}]");
        ExternalCommand.Run("sync", []).EnsureSuccess();
        return watch.Elapsed;
    }

    private TimeSpan PushToFileCache(string scratch)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        RealNix.Run("nix", Path.Combine(scratch, "xdg"), ["copy", "--store", narBridge!.PushSource, "--to", $"file://{Path.Combine(scratch, "cache")}?compression=none", fixtures.RootPath]).EnsureSuccess();
        ExternalCommand.Run("sync", []).EnsureSuccess();
        return watch.Elapsed;
    }

    /// <summary>Once per run, before the first sample, untimed: a store holding the closure, filled the way a fleet fills it.</summary>
    private void FillBridgeStore()
    {
        var filled = Path.Combine(scratchRoot, "nar-bridge-store");
        Directory.CreateDirectory(filled);
        Log("filling the store the pulls read from: nix copy --to nar-bridge");
        try
        {
            PushToNarBridge(filled);
            bridgeStore = filled;
        }
        catch (Exception e) when (e is BenchmarkFailure or SystemUnavailable or IOException)
        {
            bridgeFillFailure = e.Message;
        }
    }

    private TimeSpan PullFromNarBridge(string scratch)
    {
        if (bridgeStore is null) throw new BenchmarkFailure($"the store the pulls read from could not be filled: {bridgeFillFailure}");
        using var bridge = SpawnedNarBridge.Start(binary, LocalStore(bridgeStore), writable: false);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var pull = RealNix.Run("nix", Path.Combine(scratch, "xdg"),
            ["--option", "trusted-public-keys", fixtures.PublicKey, "--option", "require-sigs", "true", "copy", "--from", bridge.BaseUrl, "--to", Path.Combine(scratch, "store"), fixtures.RootPath]);
        if (pull.ExitCode != 0) throw new BenchmarkFailure($"`nix copy --from {bridge.BaseUrl}` exited with {pull.ExitCode}: {CommandResult.FirstLines(pull.StandardError)} [nar-bridge stderr: {bridge.LastError()}]");
        ExternalCommand.Run("sync", []).EnsureSuccess();
        return watch.Elapsed;
    }

    /// <summary>Every path of the closure in the pushed store: `nix-hash` through a mount of it equals its NarHash.</summary>
    private void VerifyPushed(string scratch)
    {
        var cache = narBridge!.ClosureNone;
        var mountPoint = Path.Combine(scratch, "verify-mnt");
        var store = LocalStore(scratch);
        var addresses = new Dictionary<string, string> { ["BLOB_SERVICE_ADDR"] = store, ["DIRECTORY_SERVICE_ADDR"] = store, ["PATH_INFO_SERVICE_ADDR"] = store };
        using (var mounted = new SpawnedMount(TvixLowFs, ExternalCommand.StartInfo(binary, ["mount", mountPoint], addresses), mountPoint).Mount())
        {
            foreach (var path in cache.Paths) ExpectNarHash(path, Path.Combine(mountPoint, path.BaseName), scratch, ServerErrors(mounted));
        }
        run.Verification.Passed.Add($"`nix copy --to` nar-bridge: all {cache.Paths.Count} paths in the store, each one's nix-hash through `tvixlowfs mount` equal to its NarHash");
    }

    private void VerifyFileCache(string scratch)
    {
        var written = BinaryCacheDirectory.Load("pushed", Path.Combine(scratch, "cache"));
        if (written.Paths.Count != narBridge!.ClosureNone.Paths.Count)
            throw new BenchmarkFailure($"`nix copy --to file://` wrote {written.Paths.Count} narinfos, not {narBridge.ClosureNone.Paths.Count}");
        run.Verification.Passed.Add($"`nix copy --to file://`: {written.Paths.Count} narinfos written");
    }

    private Comparison FirstByte(BinaryCacheMetric metric, StaticHttpServer server, BinaryCacheDirectory cache, string decompressor)
    {
        var big = cache.Get(fixtures.BigPath);
        var url = $"{server.BaseUrl}/{big.NarUrl}";
        return new(
            new(metric, $"mount → first byte, {decompressor}",
                $"spawn of `tvixlowfs mount` (PATH_INFO_SERVICE_ADDR=nix+http://…, fresh store and --cache-dir) until `head -c1 MNT/{big.BaseName}/{ClosureCorpus.SmallFileName}` returns",
                $"`curl -s URL \\| {decompressor} -dc > /dev/null` of that one NAR", big.NarSize, SpeedUp: false, 1.2,
                $"mount → first byte / download + decompress, {decompressor}"),
            s => TvixLowFsFirstByte(server, big, s),
            s => ExternalCommand.Run("bash", ["-o", "pipefail", "-c", "curl -s --fail \"$1\" | \"$2\" -dc > /dev/null", "bash", url, decompressor]).EnsureSuccess().Elapsed,
            _ => { },
            _ => { });
    }

    /// <summary>
    /// Drops caches, then times one side into a fresh scratch directory, recording wall and CPU
    /// seconds; a failure is recorded against the comparison and side and the run goes on.
    /// Returns the scratch directory, or null when the sample failed.
    /// </summary>
    private string? Measure(MeasuredScenario scenario, string side, int repetition, Func<string, TimeSpan> sample)
    {
        var scratch = Path.Combine(scratchRoot, $"{scenario.Metric}-{side}-{repetition}".ToLowerInvariant());
        Directory.CreateDirectory(scratch);
        DropCaches();
        var cpuBefore = ChildCpuTime.Total();
        try
        {
            var elapsed = sample(scratch);
            var cpu = ChildCpuTime.Total() - cpuBefore;
            run.Measurements.Add(scenario.Metric, side, elapsed.TotalSeconds);
            run.Measurements.Add(scenario.Metric, side + CpuSuffix, cpu.TotalSeconds);
            Log($"  {scenario.Title}, {side}: {elapsed.TotalSeconds:0.000} s ({scenario.NarBytes / (double)(1 << 20) / elapsed.TotalSeconds:0} MiB/s of NAR, CPU {cpu.TotalSeconds:0.00} s)");
            return scratch;
        }
        catch (Exception e) when (e is BenchmarkFailure or SystemUnavailable or IOException or UnauthorizedAccessException)
        {
            if (Teardown.Instance.Interrupted) return null;
            run.Failures.TryAdd((scenario.Metric, side), e.Message);
            Log($"  {scenario.Title}, {side} FAILED: {e.Message}");
            return null;
        }
    }

    private void Verify(MeasuredScenario scenario, string side, Action verify)
    {
        try
        {
            verify();
        }
        catch (Exception e) when (e is BenchmarkFailure or SystemUnavailable or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            if (Teardown.Instance.Interrupted) return;
            run.Verification.Failed.Add($"{scenario.Title}, {side}: {e.Message}");
            Log($"  VERIFICATION FAILED: {scenario.Title}, {side}: {e.Message}");
        }
    }

    private string NixHttpAddress(StaticHttpServer server) =>
        $"nix+http://127.0.0.1:{server.Port}?trusted-public-keys={Uri.EscapeDataString(fixtures.PublicKey)}";

    private static string LocalStore(string scratch) => "local://" + Path.Combine(scratch, "store");

    private TimeSpan TvixLowFsCopy(StaticHttpServer server, string storePath, string scratch)
    {
        var store = LocalStore(scratch);
        List<string> arguments =
        [
            "copy", "--from", NixHttpAddress(server),
            "--blob-service-addr", store, "--directory-service-addr", store, "--path-info-service-addr", store,
            "--cache-dir", Path.Combine(scratch, "cache"),
        ];
        if (options.Jobs is { } jobs) arguments.AddRange(["--jobs", jobs.ToString(CultureInfo.InvariantCulture)]);
        arguments.Add(storePath);
        var watch = Stopwatch.StartNew();
        var result = ExternalCommand.Run(binary, arguments, RealNix.Environment(Path.Combine(scratch, "xdg"))).EnsureSuccess();
        ExternalCommand.Run("sync", []).EnsureSuccess();
        watch.Stop();
        File.WriteAllText(Path.Combine(scratch, "copy.stdout"), result.StandardOutput);
        return watch.Elapsed;
    }

    private TimeSpan NixCopy(StaticHttpServer server, string scratch)
    {
        var watch = Stopwatch.StartNew();
        RealNix.Run("nix", Path.Combine(scratch, "xdg"),
            ["--option", "trusted-public-keys", fixtures.PublicKey, "--option", "require-sigs", "true", "copy", "--from", server.BaseUrl, "--to", Path.Combine(scratch, "store"), fixtures.RootPath]).EnsureSuccess();
        ExternalCommand.Run("sync", []).EnsureSuccess();
        return watch.Elapsed;
    }

    private static TimeSpan NixRestore(string narFile, string scratch)
    {
        var watch = Stopwatch.StartNew();
        // bash only opens the NAR as nix-store's stdin and execs it.
        ExternalCommand.Run("bash", ["-c", "nar=$1; shift; exec \"$@\" < \"$nar\"", "bash", narFile, "nix-store", .. RealNix.CommonOptions, "--restore", Path.Combine(scratch, "restored")],
            RealNix.Environment(Path.Combine(scratch, "xdg"))).EnsureSuccess();
        ExternalCommand.Run("sync", []).EnsureSuccess();
        return watch.Elapsed;
    }

    private TimeSpan TvixLowFsFirstByte(StaticHttpServer server, CachedStorePath big, string scratch)
    {
        var store = LocalStore(scratch);
        var mountPoint = Path.Combine(scratch, "mnt");
        var environment = new Dictionary<string, string>
        {
            ["PATH_INFO_SERVICE_ADDR"] = NixHttpAddress(server),
            ["BLOB_SERVICE_ADDR"] = store,
            ["DIRECTORY_SERVICE_ADDR"] = store,
            ["XDG_CACHE_HOME"] = Path.Combine(scratch, "xdg"),
        };
        var mount = new SpawnedMount(TvixLowFs, ExternalCommand.StartInfo(binary, ["mount", mountPoint, "--cache-dir", Path.Combine(scratch, "cache")], environment), mountPoint);
        var watch = Stopwatch.StartNew();
        using var mounted = mount.Mount();
        var head = ExternalCommand.Run("head", ["-c1", Path.Combine(mountPoint, big.BaseName, ClosureCorpus.SmallFileName)]);
        watch.Stop();
        if (head.ExitCode != 0) throw new BenchmarkFailure($"`head -c1` exited with {head.ExitCode}: {CommandResult.FirstLines(head.StandardError)}{ServerErrors(mounted)}");
        var expected = (char)ClosureCorpus.SmallFileContent[0];
        if (head.StandardOutput != expected.ToString()) throw new BenchmarkFailure($"`head -c1` of {ClosureCorpus.SmallFileName} returned '{head.StandardOutput}', not '{expected}'");
        return watch.Elapsed;
    }

    /// <summary>
    /// Every path of the cache printed by `tvixlowfs copy`; with hashEveryPath, each one's
    /// `nix-hash --type sha256` through a `tvixlowfs mount` of the new store equals its narinfo's NarHash.
    /// </summary>
    private void VerifyCopy(BinaryCacheDirectory cache, string scratch, bool hashEveryPath)
    {
        var printed = File.ReadAllLines(Path.Combine(scratch, "copy.stdout")).Select(l => l.Trim()).Where(l => l.StartsWith("/nix/store/", StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
        var missing = cache.Paths.Select(p => p.StorePath).Where(p => !printed.Contains(p)).ToList();
        if (missing.Count > 0) throw new BenchmarkFailure($"`tvixlowfs copy` printed {printed.Count} store paths; not {string.Join(", ", missing.Take(3))}{(missing.Count > 3 ? $" and {missing.Count - 3} more" : "")}");
        var checkedPaths = "";
        if (hashEveryPath)
        {
            var mountPoint = Path.Combine(scratch, "verify-mnt");
            var store = LocalStore(scratch);
            var addresses = new Dictionary<string, string> { ["BLOB_SERVICE_ADDR"] = store, ["DIRECTORY_SERVICE_ADDR"] = store, ["PATH_INFO_SERVICE_ADDR"] = store };
            using var mounted = new SpawnedMount(TvixLowFs, ExternalCommand.StartInfo(binary, ["mount", mountPoint], addresses), mountPoint).Mount();
            foreach (var path in cache.Paths) ExpectNarHash(path, Path.Combine(mountPoint, path.BaseName), scratch, ServerErrors(mounted));
            checkedPaths = ", each one's nix-hash through `tvixlowfs mount` of the new store equal to its NarHash";
        }
        run.Verification.Passed.Add($"`tvixlowfs copy` from the {cache.Name} cache: printed all {cache.Paths.Count} paths{checkedPaths}");
    }

    private void VerifyNixCopy(string scratch)
    {
        var closure = RealNix.Run("nix-store", Path.Combine(scratch, "xdg"), ["--store", Path.Combine(scratch, "store"), "--query", "--requisites", fixtures.RootPath]).EnsureSuccess();
        var count = closure.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        if (count != fixtures.Xz.Paths.Count) throw new BenchmarkFailure($"after `nix copy` the store holds a closure of {count} paths, not {fixtures.Xz.Paths.Count}");
        run.Verification.Passed.Add($"`nix copy`: the new store holds the root's closure of {count} paths (Nix checks each NarHash itself)");
    }

    private void VerifyRestore(CachedStorePath contents, string scratch)
    {
        ExpectNarHash(contents, Path.Combine(scratch, "restored"), scratch, "");
        run.Verification.Passed.Add($"`nix-store --restore`: nix-hash of the restored tree equal to the NarHash of {contents.BaseName}");
    }

    private static void ExpectNarHash(CachedStorePath path, string tree, string scratch, string context)
    {
        var hash = RealNix.Run("nix-hash", Path.Combine(scratch, "xdg"), ["--type", "sha256", "--base32", tree]);
        if (hash.ExitCode != 0) throw new BenchmarkFailure($"nix-hash of {tree} exited with {hash.ExitCode}: {CommandResult.FirstLines(hash.StandardError)}{context}");
        var actual = "sha256:" + hash.StandardOutput.Trim();
        if (actual != path.NarHash) throw new BenchmarkFailure($"{path.BaseName}: nix-hash {actual}, narinfo NarHash {path.NarHash}");
    }

    private static string ServerErrors(MountedFileSystem mounted)
    {
        var tail = mounted.Server is null ? "" : TvixLowFsStore.LastError(mounted.Server);
        return tail.Length == 0 ? "" : $" [mount stderr: {tail}]";
    }

    /// <summary>Null when the binary has the command; else why its tvixlowfs side is n/a.</summary>
    private string? ProbeCommand(string command)
    {
        if (!File.Exists(binary)) return $"no binary at {binary} (run ./build.sh)";
        var help = ExternalCommand.Run(binary, [command, "--help"], timeout: TimeSpan.FromSeconds(30));
        return help.ExitCode == 0 ? null : $"`tvixlowfs {command} --help` exited with {help.ExitCode}: {CommandResult.FirstLines(help.StandardError + help.StandardOutput, 1)}";
    }

    private void DropCaches() => PageCache.Drop(run.Notes, "samples after the first are not cold");

    /// <summary>Prints the report and writes it to bench/results/binary-cache-DATE[-quick].md.</summary>
    private void Publish(string markdown, string? repository)
    {
        Console.WriteLine(markdown);
        var path = ResultsFile.Write(options.ResultsDirectory, repository, "binary-cache", run.Metadata.StartedUtc, options.Quick, markdown);
        Log($"wrote {path}");
    }

    private static void Log(string message) => BinaryCacheBenchmark.Log(message);
}
