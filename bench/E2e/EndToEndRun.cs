using System.Diagnostics;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// One run: prepares the corpus, image and store, then per repetition drops caches, mounts fresh
/// and runs the workloads in rotating system order, verifies the bytes, and writes the report.
/// </summary>
internal sealed class EndToEndRun(BenchmarkOptions options)
{
    private const int WarmSpawnSamples = 5;

    private RunRecord run = null!;
    private Corpus corpus = null!;
    private Process? daemon;
    private readonly List<Process> latencyDaemons = [];
    private readonly List<DelayProxy> latencyProxies = [];
    private string? remoteCacheNote;

    public int Execute()
    {
        var metadata = new RunMetadata();
        var repository = BenchmarkOptions.RepositoryRoot();
        var binary = options.Binary ?? Path.Combine(repository ?? Environment.CurrentDirectory, "artifacts", "tvixlowfs");
        var profile = Path.Combine(options.WorkDirectory, options.Shape.Name);
        // Used remote caches of an earlier (interrupted) run: deleted first, well before any cycle fills a new one.
        DeleteUsedRemoteCaches(Path.Combine(profile, "remote-cache"));
        var mountRoot = Path.Combine(profile, "mnt");
        Directory.CreateDirectory(mountRoot);
        Teardown.RemoveStaleMounts(options.WorkDirectory);

        corpus = new Corpus(options.Shape, profile);
        corpus.EnsureBuilt();
        if (options.OnlyImport) return ExecuteImportOnly(metadata, repository, binary, profile);

        var native = new NativeDirectory(corpus);
        var squashfuse = PrepareSquashfuse(profile, Path.Combine(mountRoot, "squashfuse"));
        var (tvix, store) = PrepareTvixLowFs(binary, profile, Path.Combine(mountRoot, "tvixlowfs"));
        var (remoteCold, remoteWarm) = PrepareRemote(store, profile, Path.Combine(mountRoot, "remote"));
        var passthrough = PreparePassthrough(profile, Path.Combine(mountRoot, PassthroughBinary.SystemName));
        var latency = PrepareLatency(store, profile, Path.Combine(mountRoot, "remote-latency"));
        run = new RunRecord
        {
            Metadata = metadata,
            Shape = options.Shape,
            Repetitions = options.Repetitions,
            Binary = binary,
            Native = native,
            Squashfuse = squashfuse,
            TvixLowFs = tvix,
            RemoteCold = remoteCold,
            RemoteWarm = remoteWarm,
            Passthrough = passthrough,
            Latency = latency,
        };
        if (remoteCacheNote is not null) run.Notes.Add(remoteCacheNote);
        metadata.DescribeSource(repository);
        if (metadata.BusyNote() is { } busy) run.Notes.Add(busy);

        try
        {
            for (var repetition = 0; repetition < options.Repetitions; repetition++)
            {
                Log($"repetition {repetition + 1}/{options.Repetitions}");
                var order = Rotate(run.LocalSystems.ToList(), repetition);
                ReadAndWalkCycle(order);
                TreeAndConcurrentCycle(order, verify: repetition == 0);
                PeakResidentCycle(order);
                RemoteCycles(remoteCold, remoteWarm, Path.Combine(profile, "remote-cache"), verify: repetition == 0);
                LatencyCycles(Rotate([.. latency.Select(link => link.System)], repetition), Path.Combine(profile, "remote-cache-latency"), verify: repetition == 0);
            }
            WarmSpawnSeries([squashfuse, tvix, passthrough]);
        }
        finally
        {
            StopDaemon();
            StopLatencyLinks();
            DeleteUsedRemoteCaches(Path.Combine(profile, "remote-cache"));
        }
        CompareDigests();
        // After the read workloads, on file systems of its own: it leaves their caches alone.
        var import = options.SkipImport ? null : new ImportComparison(options, corpus, profile, binary);
        import?.Run();

        metadata.Finish();
        var markdown = Report.Render(run) + (import is null ? "" : "\n" + import.Render());
        Console.WriteLine(markdown);
        WriteResults(markdown, repository, metadata.StartedUtc);
        var failed = run.Failed || import?.Failures.Count > 0;
        if (failed) Console.Error.WriteLine("e2e: FAILED (see the report)");
        return failed ? 1 : 0;
    }

    /// <summary>`--only import`: the import comparison alone, its own report (import-*.md).</summary>
    private int ExecuteImportOnly(RunMetadata metadata, string? repository, string binary, string profile)
    {
        metadata.DescribeSource(repository);
        var import = new ImportComparison(options, corpus, profile, binary);
        import.Run();
        metadata.Finish();
        var text = new System.Text.StringBuilder();
        metadata.AppendHeader(text, "Import comparison (`bench/E2e --only import`)");
        text.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"- commit: {metadata.SourceRevision}");
        text.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"- corpus: {corpus.Shape.Describe()}");
        if (metadata.BusyNote() is { } busy) text.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"- {busy}");
        text.AppendLine();
        text.Append(import.Render());
        var markdown = text.ToString();
        Console.WriteLine(markdown);
        var dated = ResultsFile.Write(options.ResultsDirectory, repository, "import", metadata.StartedUtc, options.Quick, markdown);
        Log($"wrote {dated}");
        if (import.Failures.Count > 0) Console.Error.WriteLine("e2e: FAILED (see the report)");
        return import.Failures.Count > 0 ? 1 : 0;
    }

    private FileSystemUnderTest PrepareSquashfuse(string profile, string mountPoint)
    {
        foreach (var tool in new[] { "mksquashfs", "squashfuse_ll", "fusermount3" })
        {
            if (!ExternalCommand.OnPath(tool)) return new UnavailableSystem("squashfuse_ll", $"{tool} is not installed (apt install squashfs-tools squashfuse fuse3, or ./build.sh bench)");
        }
        try
        {
            return new SquashfuseMount(SquashfsImage.EnsureBuilt(corpus, profile), mountPoint);
        }
        catch (BenchmarkFailure e)
        {
            return new UnavailableSystem("squashfuse_ll", e.Message);
        }
    }

    /// <summary>
    /// The reference server (libfuse's passthrough_ll), over a second copy of the corpus built by
    /// the same generator; "unavailable (reason)" when it cannot be obtained or compiled here.
    /// </summary>
    private FileSystemUnderTest PreparePassthrough(string profile, string mountPoint)
    {
        try
        {
            var binary = PassthroughBinary.Ensure(options.WorkDirectory);
            var copyProfile = Path.Combine(profile, PassthroughBinary.SystemName);
            Directory.CreateDirectory(copyProfile);
            var copy = new Corpus(options.Shape, copyProfile);
            copy.EnsureBuilt();
            return new PassthroughMount(binary, DescriptorBudget.For(copy.Shape.TreeEntryCount), copy.Directory, mountPoint);
        }
        catch (Exception e) when (e is SystemUnavailable or BenchmarkFailure or IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            // A reference that cannot be had here leaves its cells n/a; it never fails the run.
            return new UnavailableSystem(PassthroughBinary.SystemName, e.Message);
        }
    }

    private (FileSystemUnderTest System, TvixLowFsStore? Store) PrepareTvixLowFs(string binary, string profile, string mountPoint)
    {
        try
        {
            var store = TvixLowFsStore.Ensure(binary, corpus, profile);
            return (new TvixLowFsMount("tvixlowfs", store, mountPoint, store.LocalAddresses, []), store);
        }
        catch (SystemUnavailable e)
        {
            return (new UnavailableSystem("tvixlowfs", e.Message), null);
        }
    }

    private (FileSystemUnderTest Cold, FileSystemUnderTest Warm) PrepareRemote(TvixLowFsStore? store, string profile, string mountPoint)
    {
        const string Cold = "remote, cache cold";
        const string Warm = "remote, cache warm";
        var reason = options.SkipRemote ? "--skip-remote" : store is null ? "needs the local tvixlowfs store and binary" : null;
        if (reason is null)
        {
            try
            {
                // The cache directory goes by the mount option when the binary has it, and always by
                // XDG_CACHE_HOME (the read-through cache's default root), so either way it is ours to empty.
                var cacheDirectory = Path.Combine(profile, "remote-cache");
                var help = ExternalCommand.Run(store!.Binary, ["mount", "--help"], timeout: TimeSpan.FromSeconds(30));
                var hasOption = (help.StandardOutput + help.StandardError).Contains(options.RemoteCacheOption, StringComparison.Ordinal);
                string[] cacheArguments = hasOption ? [options.RemoteCacheOption, cacheDirectory] : [];
                remoteCacheNote = hasOption
                    ? $"remote cache directory given as `{options.RemoteCacheOption} {cacheDirectory}` (and XDG_CACHE_HOME)"
                    : $"remote cache directory given as XDG_CACHE_HOME={cacheDirectory} (`tvixlowfs mount --help` lists no {options.RemoteCacheOption})";
                var socket = Path.Combine(profile, "daemon.sock");
                daemon = store.StartDaemon(socket);
                var addresses = new Dictionary<string, string>(TvixLowFsStore.Addresses("grpc+unix://" + socket)) { ["XDG_CACHE_HOME"] = cacheDirectory };
                return (new TvixLowFsMount(Cold, store, mountPoint, addresses, cacheArguments), new TvixLowFsMount(Warm, store, mountPoint, addresses, cacheArguments));
            }
            catch (SystemUnavailable e)
            {
                reason = e.Message;
            }
        }
        return (new UnavailableSystem(Cold, reason), new UnavailableSystem(Warm, reason));
    }

    /// <summary>
    /// The links with latency (issue 16 point 4): a daemon on TCP with our blob batches and one
    /// with `--no-blob-batch` (the per-blob tvix protocol), each behind a <see cref="DelayProxy"/>
    /// per round trip asked for; a mount per pair, over grpc+http through the proxy.
    /// </summary>
    private List<LatencyLink> PrepareLatency(TvixLowFsStore? store, string profile, string mountPoint)
    {
        var links = new List<LatencyLink>();
        var reason = options.SkipRemote ? "--skip-remote" : options.LatencyRoundTrips.Count == 0 ? null
            : store is null ? "needs the local tvixlowfs store and binary" : null;
        foreach (var batch in new[] { true, false })
        {
            int? port = null;
            if (reason is null && store is not null && options.LatencyRoundTrips.Count > 0)
            {
                try
                {
                    var (started, listening) = store.StartTcpDaemon(batch ? [] : ["--no-blob-batch"]);
                    latencyDaemons.Add(started);
                    port = listening;
                }
                catch (SystemUnavailable e)
                {
                    reason = e.Message;
                }
            }
            foreach (var milliseconds in options.LatencyRoundTrips)
            {
                var name = $"remote, {milliseconds} ms RTT{(batch ? "" : ", --no-blob-batch")}, cache cold";
                if (port is not { } upstream || store is null)
                {
                    links.Add(new LatencyLink(milliseconds, batch, new UnavailableSystem(name, reason ?? "no daemon")));
                    continue;
                }
                var proxy = DelayProxy.Start(upstream, TimeSpan.FromMilliseconds(milliseconds));
                latencyProxies.Add(proxy);
                var cacheDirectory = Path.Combine(profile, "remote-cache-latency");
                var addresses = new Dictionary<string, string>(TvixLowFsStore.Addresses($"grpc+http://127.0.0.1:{proxy.Port}")) { ["XDG_CACHE_HOME"] = cacheDirectory };
                links.Add(new LatencyLink(milliseconds, batch, new TvixLowFsMount(name, store, mountPoint, addresses, [options.RemoteCacheOption, cacheDirectory])));
            }
        }
        return links;
    }

    /// <summary>Cycle 5: per link, W1 then W4 on one mount with an empty cache directory, caches dropped before each, as the remote cold row.</summary>
    private void LatencyCycles(IReadOnlyList<FileSystemUnderTest> systems, string cacheDirectory, bool verify)
    {
        foreach (var system in systems.Where(s => s.Usable))
        {
            if (Directory.Exists(cacheDirectory)) SetAsideUsedRemoteCache(cacheDirectory);
            Directory.CreateDirectory(cacheDirectory);
            RemoteReads(system, verify);
        }
        if (Directory.Exists(cacheDirectory)) SetAsideUsedRemoteCache(cacheDirectory);
    }

    private void StopLatencyLinks()
    {
        foreach (var proxy in latencyProxies) proxy.Dispose();
        foreach (var started in latencyDaemons)
        {
            if (started.HasExited) continue;
            ExternalCommand.Run("kill", ["-TERM", started.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            if (!started.WaitForExit(TimeSpan.FromSeconds(5))) started.Kill(entireProcessTree: true);
            Teardown.Instance.ForgetProcess(started);
        }
    }

    /// <summary>Cycle 1: W1 and W2 read only big.bin, so W3's walk of tree/ on the same mount is still cold.</summary>
    private void ReadAndWalkCycle(IReadOnlyList<FileSystemUnderTest> order)
    {
        DropCaches();
        var mounted = MountAll(order, recordSpawn: true);
        try
        {
            foreach (var m in mounted) Measure(m, Metric.W1, () => Workloads.SequentialRead(m.BigFile, corpus.Shape.BigFileBytes, includeOpen: true));
            foreach (var m in mounted) Measure(m, Metric.W2, () => Workloads.SequentialRead(m.BigFile, corpus.Shape.BigFileBytes, includeOpen: false));
            foreach (var m in mounted) Measure(m, Metric.W3, () => Workloads.MetadataWalk(m.Tree, corpus.Shape.TreeEntryCount));
        }
        finally
        {
            UnmountAll(mounted);
        }
    }

    /// <summary>Cycle 2: W4 reads only tree/, so W5's quarters of big.bin on the same mount are still cold.</summary>
    private void TreeAndConcurrentCycle(IReadOnlyList<FileSystemUnderTest> order, bool verify)
    {
        DropCaches();
        var mounted = MountAll(order, recordSpawn: true);
        try
        {
            foreach (var m in mounted) Measure(m, Metric.W4, () => Workloads.TreeRead(m.Tree, corpus.TreeFileBytes).BytesPerSecond);
            RemountFailedReferences(mounted);
            foreach (var m in mounted) Measure(m, Metric.W5, () => Workloads.ConcurrentQuarterReads(m.BigFile, corpus.Shape.BigFileBytes));
            if (verify)
            {
                RemountFailedReferences(mounted);
                foreach (var m in mounted) Verify(m);
            }
        }
        finally
        {
            UnmountAll(mounted);
        }
    }

    /// <summary>Cycle 3: a fresh mount of each server runs W3 then W4; its VmHWM is read before unmounting.</summary>
    private void PeakResidentCycle(IReadOnlyList<FileSystemUnderTest> order)
    {
        var servers = order.Where(s => s.HasServer).ToList();
        if (!servers.Any(s => s.Usable)) return;
        DropCaches();
        var mounted = MountAll(servers, recordSpawn: true);
        try
        {
            foreach (var m in mounted)
            {
                if (!AttemptWorkload(m, Metric.PeakResident, () =>
                {
                    Workloads.MetadataWalk(m.Tree, corpus.Shape.TreeEntryCount);
                    Workloads.TreeRead(m.Tree, corpus.TreeFileBytes);
                })) continue;
                if (m.PeakResidentBytes() is { } peak)
                {
                    run.Measurements.Add(Metric.PeakResident, m.System.Name, peak);
                    Log($"  peak RSS {m.System.Name}: {Report.Format(Metric.PeakResident, peak)} MiB");
                }
            }
        }
        finally
        {
            UnmountAll(mounted);
        }
    }

    /// <summary>Cycle 4: W1 and W4 over grpc+unix with an emptied cache directory, then after a remount with it warm.</summary>
    private void RemoteCycles(FileSystemUnderTest cold, FileSystemUnderTest warm, string cacheDirectory, bool verify)
    {
        if (!run.TvixLowFs.Usable)
        {
            var reason = "the local tvixlowfs mount is not measurable in this run";
            if (cold.Usable) cold.UnavailableReason = reason;
            if (warm.Usable) warm.UnavailableReason = reason;
        }
        if (!cold.Usable && !warm.Usable) return;
        // A used cache is set aside by a rename and deleted only when the run ends, not emptied
        // between cycles. This VM's ext4 has no journal, and without one ext4 will not reuse an
        // inode freed in the last 60 s (300 s more while its inode table block is dirty,
        // recently_deleted): after deleting the last cycle's 23,000 cache files, each new file's
        // inode costs a scan past them, a fifth of the mount's samples in a profile. A cold cache
        // on a runner is an empty directory, not one emptied a minute ago.
        if (Directory.Exists(cacheDirectory)) SetAsideUsedRemoteCache(cacheDirectory);
        Directory.CreateDirectory(cacheDirectory);
        try
        {
            foreach (var system in new[] { cold, warm })
                RemoteReads(system, verify);
        }
        finally
        {
            SetAsideUsedRemoteCache(cacheDirectory);
        }
    }

    /// <summary>A fresh mount of a remote system after a drop: W1, then caches dropped again, W4.</summary>
    private void RemoteReads(FileSystemUnderTest system, bool verify)
    {
        DropCaches();
        var mounted = MountAll([system], recordSpawn: false);
        try
        {
            foreach (var m in mounted)
            {
                Measure(m, Metric.W1, () => Workloads.SequentialRead(m.BigFile, corpus.Shape.BigFileBytes, includeOpen: true));
                // W4 starts from dropped caches, as the local W4 does: otherwise the 512 MiB
                // W1 just wrote into the cache is still being written back while the tree
                // is read, and the daemon's page cache still holds big.bin. W1 read only
                // big.bin, so the mount's cache is still cold for the tree.
                DropCaches();
                Measure(m, Metric.W4, () => Workloads.TreeRead(m.Tree, corpus.TreeFileBytes).BytesPerSecond);
                if (verify) Verify(m);
            }
        }
        finally
        {
            UnmountAll(mounted);
        }
    }

    private static void SetAsideUsedRemoteCache(string cacheDirectory) =>
        Directory.Move(cacheDirectory, $"{cacheDirectory}.used-{Guid.NewGuid():N}");

    private static void DeleteUsedRemoteCaches(string cacheDirectory)
    {
        var parent = Path.GetDirectoryName(cacheDirectory)!;
        if (!Directory.Exists(parent)) return;
        foreach (var used in Directory.EnumerateDirectories(parent, Path.GetFileName(cacheDirectory) + "*"))
            Directory.Delete(used, recursive: true);
    }

    /// <summary>Spawn → ready with the binary in the page cache: one unmeasured warm-up, then the samples.</summary>
    private void WarmSpawnSeries(IEnumerable<FileSystemUnderTest> servers)
    {
        foreach (var system in servers.Where(s => s.Usable))
        {
            for (var i = 0; i <= WarmSpawnSamples && system.Usable; i++)
            {
                var mounted = MountAll([system], recordSpawn: false);
                foreach (var m in mounted)
                {
                    if (i > 0 && m.SpawnToReady is { } spawn) run.Measurements.Add(Metric.SpawnWarm, system.Name, spawn.TotalMilliseconds);
                }
                UnmountAll(mounted);
            }
            Log($"  spawn → ready {system.Name}: {Report.Format(Metric.SpawnWarm, run.Measurements.Median(Metric.SpawnWarm, system.Name) ?? double.NaN)} ms (median, binary cached)");
        }
    }

    /// <summary>
    /// A reference whose W4 failed (passthrough_ll out of descriptors after walking the tree) is
    /// remounted, so W5 measures it instead of the leftover. That warms nothing: caches were
    /// dropped at the start of the cycle, and W4 read only tree/, W5 only big.bin.
    /// </summary>
    private void RemountFailedReferences(List<MountedFileSystem> mounted)
    {
        for (var i = 0; i < mounted.Count; i++)
        {
            var m = mounted[i];
            if (!m.System.IsReference || !m.WorkloadFailed || !m.System.Usable) continue;
            m.Dispose();
            try
            {
                mounted[i] = m.System.Mount();
            }
            catch (Exception e) when (e is SystemUnavailable or BenchmarkFailure)
            {
                MarkBroken(m.System, e.Message);
                mounted.RemoveAt(i--);
            }
        }
    }

    private List<MountedFileSystem> MountAll(IEnumerable<FileSystemUnderTest> systems, bool recordSpawn)
    {
        var mounted = new List<MountedFileSystem>();
        foreach (var system in systems.Where(s => s.Usable))
        {
            try
            {
                var m = system.Mount();
                mounted.Add(m);
                if (recordSpawn && m.SpawnToReady is { } spawn) run.Measurements.Add(Metric.SpawnCold, system.Name, spawn.TotalMilliseconds);
            }
            catch (Exception e) when (e is SystemUnavailable or BenchmarkFailure)
            {
                MarkBroken(system, e.Message);
            }
        }
        return mounted;
    }

    private static void UnmountAll(List<MountedFileSystem> mounted)
    {
        foreach (var m in mounted) m.Dispose();
    }

    private void Measure(MountedFileSystem m, Metric metric, Func<double> workload)
    {
        if (!m.System.Usable) return;
        double value = 0;
        if (!AttemptWorkload(m, metric, () => value = workload())) return;
        run.Measurements.Add(metric, m.System.Name, value);
        Log($"  {metric} {m.System.Name}: {Report.Format(metric, value)} {(metric == Metric.W3 ? "entries/s" : "MiB/s")}");
    }

    private void Verify(MountedFileSystem m)
    {
        if (!m.System.Usable) return;
        try
        {
            run.Digests[m.System.Name] = ContentDigest.Of(m);
        }
        catch (Exception e) when (e is BenchmarkFailure or IOException or UnauthorizedAccessException or InvalidDataException or FormatException)
        {
            if (Teardown.Instance.Interrupted) return;
            var reason = $"{m.System.Name} could not be read for verification: {e.Message}{ServerErrors(m)}";
            // The reference not managing to read is a finding about it; returning other bytes would still fail the run.
            (m.System.IsReference ? run.ReferenceProblems : run.VerificationFailures).Add(reason);
            Log($"  {(m.System.IsReference ? "reference" : "VERIFICATION FAILED")}: {reason}");
        }
    }

    /// <summary>
    /// Runs one workload; a failure is recorded against that workload and system (the report shows
    /// it and the run exits 1) and the run goes on, so one broken operation does not hide the rest.
    /// </summary>
    private bool AttemptWorkload(MountedFileSystem m, Metric metric, Action workload)
    {
        try
        {
            workload();
            return true;
        }
        catch (Exception e) when (e is BenchmarkFailure or IOException or UnauthorizedAccessException)
        {
            if (Teardown.Instance.Interrupted) return false;
            m.WorkloadFailed = true;
            var reason = e.Message + ServerErrors(m);
            run.WorkloadFailures.TryAdd((metric, m.System.Name), reason);
            Log($"  {metric} {m.System.Name} {(m.System.IsReference ? "could not run (the reference; the run goes on)" : "FAILED")}: {reason}");
            return false;
        }
    }

    /// <summary>The server's last distinct stderr lines, which usually say why a request failed.</summary>
    private static string ServerErrors(MountedFileSystem m)
    {
        if (m.Server is null) return "";
        var tail = TvixLowFsStore.LastError(m.Server);
        return tail.Length == 0 ? "" : $" [server stderr: {tail}]";
    }

    private static void MarkBroken(FileSystemUnderTest system, string reason)
    {
        // After Ctrl-C the teardown pulls mounts from under running workloads; those errors are not findings.
        if (Teardown.Instance.Interrupted) return;
        if (system.HasMountedOnce) system.FailureReason ??= reason;
        else system.UnavailableReason ??= reason;
        Log($"  {system.Name} {(system.FailureReason is not null ? "FAILED" : "is not available")}: {reason}");
    }

    private void CompareDigests()
    {
        if (!run.Digests.TryGetValue(run.Native.Name, out var reference))
        {
            run.VerificationFailures.Add("native was not read, so nothing could be compared");
            return;
        }
        if (reference.TreeEntries.Count != corpus.Shape.TreeEntryCount)
        {
            run.VerificationFailures.Add($"native tar listed {reference.TreeEntries.Count} entries, the corpus has {corpus.Shape.TreeEntryCount}");
        }
        foreach (var (name, digest) in run.Digests)
        {
            if (digest.BigFileSha256 != reference.BigFileSha256)
                run.VerificationFailures.Add($"{name}: big.bin SHA-256 {digest.BigFileSha256} differs from native {reference.BigFileSha256}");
            if (digest.TreeDigest != reference.TreeDigest)
                run.VerificationFailures.Add($"{name}: the tree differs from native: {ContentDigest.FirstDifference(reference, digest)}");
        }
        foreach (var failure in run.VerificationFailures) Console.Error.WriteLine($"e2e: VERIFICATION FAILED: {failure}");
    }

    /// <summary>Drops the page cache; without it the cold rows are not cold, which the report says.</summary>
    private void DropCaches() => PageCache.Drop(run.Notes, "the cold rows are not cold");

    private void StopDaemon()
    {
        if (daemon is null || daemon.HasExited) return;
        ExternalCommand.Run("kill", ["-TERM", daemon.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        if (!daemon.WaitForExit(TimeSpan.FromSeconds(5))) daemon.Kill(entireProcessTree: true);
        Teardown.Instance.ForgetProcess(daemon);
    }

    private void WriteResults(string markdown, string? repository, DateTime started)
    {
        var dated = ResultsFile.Write(options.ResultsDirectory, repository, "e2e", started, options.Quick, markdown);
        // A smoke run must not replace the figures the README quotes.
        File.WriteAllText(Path.Combine(ResultsFile.DirectoryOf(options.ResultsDirectory, repository), options.Quick ? "latest-quick.md" : "latest.md"), markdown);
        Log($"wrote {dated}");
    }

    private static List<FileSystemUnderTest> Rotate(List<FileSystemUnderTest> systems, int by) =>
        [.. Enumerable.Range(0, systems.Count).Select(i => systems[(i + by) % systems.Count])];

    private static void Log(string message) => Console.Error.WriteLine($"e2e {DateTime.UtcNow:HH:mm:ss}: {message}");
}

/// <summary>A placeholder for a system that cannot run at all; it only carries the reason.</summary>
internal sealed class UnavailableSystem : FileSystemUnderTest
{
    public UnavailableSystem(string name, string reason) : base(name) => UnavailableReason = reason;

    public override bool HasServer => false;

    public override MountedFileSystem Mount() => throw new SystemUnavailable(UnavailableReason!);
}
