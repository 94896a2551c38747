using System.Diagnostics;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// One of the compared systems. Mounting yields a <see cref="MountedFileSystem"/> whose DataRoot
/// holds big.bin and tree/ exactly as the corpus directory does.
/// </summary>
internal abstract class FileSystemUnderTest(string name)
{
    public string Name { get; } = name;
    /// <summary>Set when the system cannot be measured in this run; its rows then say n/a (reason).</summary>
    public string? UnavailableReason { get; set; }
    /// <summary>Set when it worked once and then failed: the run reports it and exits non-zero.</summary>
    public string? FailureReason { get; set; }
    public bool Usable => UnavailableReason is null && FailureReason is null;
    public bool HasMountedOnce { get; protected set; }
    /// <summary>True for FUSE servers, whose process can be measured (spawn time, peak RSS).</summary>
    public abstract bool HasServer { get; }
    /// <summary>True for the reference (passthrough_ll): what it cannot do is reported in its cells, never fails the run.</summary>
    public virtual bool IsReference => false;

    public abstract MountedFileSystem Mount();

    public override string ToString() => Name;

    /// <summary>
    /// Spawns a FUSE server in the foreground, timing process start → mount in the mount table and
    /// the root answering a stat.
    /// </summary>
    protected MountedFileSystem MountServer(ProcessStartInfo info, string mountPoint, string dataRoot)
    {
        Directory.CreateDirectory(mountPoint);
        if (MountTable.IsMounted(mountPoint)) Teardown.Instance.Unmount(mountPoint);
        var watch = Stopwatch.StartNew();
        var server = ExternalCommand.Start(info);
        TvixLowFsStore.DrainInBackground(server);
        Teardown.Instance.TrackMount(mountPoint, server);
        var ready = MountTable.WaitForMount(mountPoint, server, TimeSpan.FromSeconds(30));
        watch.Stop();
        if (!ready)
        {
            Teardown.Instance.Unmount(mountPoint);
            // The reason names the command briefly (it lands in table cells); the log has the full line.
            var command = Path.GetFileName(info.FileName) + (info.ArgumentList.FirstOrDefault() is { } verb && !verb.StartsWith('-') && !verb.Contains('/') ? " " + verb : "");
            Console.Error.WriteLine($"e2e: {ExternalCommand.Describe(info)}");
            var why = server.HasExited
                ? $"`{command}` exited with {server.ExitCode} before mounting: {TvixLowFsStore.LastError(server)}"
                : $"`{command}` was not mounted and answering within 30 s: {TvixLowFsStore.LastError(server)}";
            throw new SystemUnavailable(why);
        }
        // From here on the system exists; what goes wrong is a failure, not "not available".
        HasMountedOnce = true;
        if (!Directory.Exists(dataRoot))
        {
            Teardown.Instance.Unmount(mountPoint);
            throw new BenchmarkFailure($"{Name} is mounted but {dataRoot} is not there");
        }
        return new MountedFileSystem(this, dataRoot, mountPoint, server, watch.Elapsed);
    }
}

/// <summary>A mounted (or, for native, simply present) system for the length of one cycle.</summary>
internal sealed class MountedFileSystem(FileSystemUnderTest system, string dataRoot, string? mountPoint, Process? server, TimeSpan? spawnToReady) : IDisposable
{
    public FileSystemUnderTest System { get; } = system;
    public string DataRoot { get; } = dataRoot;
    public string? MountPoint { get; } = mountPoint;
    public Process? Server { get; } = server;
    public TimeSpan? SpawnToReady { get; } = spawnToReady;
    /// <summary>Set when a workload failed on this mount (the reference is then remounted for the next one).</summary>
    public bool WorkloadFailed { get; set; }

    public string BigFile => Path.Combine(DataRoot, "big.bin");
    public string Tree => Path.Combine(DataRoot, "tree");

    /// <summary>The server's peak resident set (VmHWM from /proc/PID/status), read before unmounting.</summary>
    public long? PeakResidentBytes()
    {
        if (Server is null || Server.HasExited) return null;
        try
        {
            foreach (var line in File.ReadLines($"/proc/{Server.Id}/status"))
            {
                if (!line.StartsWith("VmHWM:", StringComparison.Ordinal)) continue;
                var kibibytes = line["VmHWM:".Length..].Trim().Split(' ')[0];
                return long.Parse(kibibytes, global::System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException) { }
        return null;
    }

    public void Dispose()
    {
        if (MountPoint is not null) Teardown.Instance.Unmount(MountPoint);
    }
}

/// <summary>The limit: the corpus read straight from the local disk.</summary>
internal sealed class NativeDirectory(Corpus corpus) : FileSystemUnderTest("native")
{
    public override bool HasServer => false;

    public override MountedFileSystem Mount()
    {
        HasMountedOnce = true;
        return new MountedFileSystem(this, corpus.Directory, mountPoint: null, server: null, spawnToReady: null);
    }
}

/// <summary>
/// The peer: squashfuse_ll over the uncompressed image, in the foreground (-f) so the benchmark
/// owns its process (peak RSS, clean stop); multi-threaded is its default.
/// </summary>
internal sealed class SquashfuseMount(string image, string mountPoint) : FileSystemUnderTest("squashfuse_ll")
{
    public override bool HasServer => true;

    public override MountedFileSystem Mount() =>
        MountServer(ExternalCommand.StartInfo("squashfuse_ll", ["-f", image, mountPoint]), mountPoint, mountPoint);
}

/// <summary>
/// `tvixlowfs mount` over a local store or, for the remote rows, over grpc+unix from a daemon
/// with a blob cache directory (emptied by the caller for a cold cache).
/// </summary>
internal sealed class TvixLowFsMount(string name, TvixLowFsStore store, string mountPoint, IReadOnlyDictionary<string, string> addresses, IReadOnlyList<string> extraArguments)
    : FileSystemUnderTest(name)
{
    public override bool HasServer => true;

    public override MountedFileSystem Mount() =>
        MountServer(
            ExternalCommand.StartInfo(store.Binary, ["mount", mountPoint, .. extraArguments], addresses),
            mountPoint,
            Path.Combine(mountPoint, store.StorePathBaseName));
}

/// <summary>
/// The reference: libfuse's passthrough_ll example with `-o cache=always` (entry and attribute
/// timeouts of 86400 s, keep_cache, cache_readdir; libfuse's defaults otherwise, so no splice
/// and the kernel's readahead) over its own byte-identical copy of the native corpus directory,
/// in the foreground with its default multi-threaded loop. The copy keeps "cold" honest: reading
/// native's files through it would warm them for native, and the other way round.
/// </summary>
internal sealed class PassthroughMount(PassthroughBinary binary, DescriptorBudget descriptors, string sourceDirectory, string mountPoint) : FileSystemUnderTest(PassthroughBinary.SystemName)
{
    public override bool HasServer => true;

    public override bool IsReference => true;

    public string Description => binary.Description;

    public string DescriptorNote => descriptors.Note;

    // fuse_opt splits -o values at commas; a backslash escapes one.
    public override MountedFileSystem Mount()
    {
        string[] arguments = [binary.BinaryPath, "-o", "source=" + sourceDirectory.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(",", "\\,", StringComparison.Ordinal), "-o", "cache=always", "-f", mountPoint];
        // prlimit, when it is needed, execs the server in place: the pid (for VmHWM) stays the server's.
        var launch = descriptors.Launcher.Count > 0 ? ExternalCommand.StartInfo(descriptors.Launcher[0], [.. descriptors.Launcher.Skip(1), .. arguments]) : ExternalCommand.StartInfo(arguments[0], arguments.Skip(1));
        return MountServer(launch, mountPoint, mountPoint);
    }
}
