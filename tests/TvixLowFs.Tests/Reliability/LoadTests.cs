using System.Diagnostics;
using System.Globalization;
using NUnit.Framework;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Reliability;

/// <summary>
/// Load on one <c>tvixlowfs mount</c> process: a soak of 16 workers doing lookups, stats, listings
/// and reads of random slices over 20,000 files (every byte compared), and a walk over 200,000
/// entries, with the mount's resident memory sampled from /proc/PID/status.
/// TVIXLOWFS_SOAK_SECONDS sets the soak's length (default 5; the issue's long form is 60).
/// </summary>
[TestFixture]
[CancelAfter(600_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class LoadTests
{
    private const int Directories = 200, FilesPerDirectory = 100, Workers = 16;

    private static int SoakSeconds =>
        int.TryParse(Environment.GetEnvironmentVariable("TVIXLOWFS_SOAK_SECONDS"), NumberStyles.None, CultureInfo.InvariantCulture, out int s) && s > 0 ? s : 5;

    /// <summary>File k's bytes: 1..16 KiB, every 97th 300 KiB (several read requests), from a seed of k.</summary>
    private static byte[] Content(int k)
    {
        var random = new Random(k);
        var bytes = new byte[k % 97 == 0 ? 300 * 1024 + k % 1000 : random.Next(1, 16 * 1024)];
        random.NextBytes(bytes);
        return bytes;
    }

    [Test]
    public async Task SixteenWorkersOverTwentyThousandFilesGetExactBytesAndFlatMemory()
    {
        await using var store = new ReliabilityStore("soak");
        string tree = await store.AddGeneratedTreeAsync("soak", Directories, FilesPerDirectory, Content);
        string mountPoint = store.NewMountPoint();
        TvixlowfsProcess mount = store.Mount(mountPoint, ["--threads", "8", .. store.StoreFlags]);
        string root = Path.Combine(mountPoint, tree);

        long ops = 0, wrongBytes = 0, unexpected = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var rss = new List<(double Seconds, long KiB)>();
        var clock = Stopwatch.StartNew();
        TimeSpan duration = TimeSpan.FromSeconds(SoakSeconds);

        double firstFailure = -1;
        void Fail(string what)
        {
            if (Interlocked.Increment(ref unexpected) == 1)
                firstFailure = clock.Elapsed.TotalSeconds;
            if (failures.Count < 20)
                failures.Enqueue(what);
        }

        void Work(int worker)
        {
            var random = new Random(worker);
            var buffer = new byte[256 * 1024];
            while (clock.Elapsed < duration)
            {
                int d = random.Next(Directories), f = random.Next(FilesPerDirectory), k = d * FilesPerDirectory + f;
                string directory = Path.Combine(root, "d" + d.ToString(CultureInfo.InvariantCulture));
                string file = Path.Combine(directory, "f" + f.ToString(CultureInfo.InvariantCulture));
                switch (random.Next(5))
                {
                    case 0:
                    {
                        int error = Libc.LStat(file, out Stat stat);
                        if (error != 0 || stat.Size != Content(k).Length)
                            Fail($"lstat {file}: errno {error}, size {stat.Size}");
                        break;
                    }
                    case 1:
                    {
                        (List<string> names, int error) = Libc.ListDirectory(directory);
                        if (error != 0 || names.Count != FilesPerDirectory + 2)
                            Fail($"readdir {directory}: errno {error}, {names.Count} names");
                        break;
                    }
                    case 2:
                    {
                        int error = Libc.LStat(Path.Combine(directory, "absent" + f.ToString(CultureInfo.InvariantCulture)), out _);
                        if (error != Libc.ENOENT)
                            Fail($"lookup of an absent name in {directory}: errno {error}");
                        break;
                    }
                    default:
                    {
                        byte[] expected = Content(k);
                        (int fd, int error) = Libc.Open(file, Libc.O_RDONLY);
                        if (error != 0)
                        {
                            Fail($"open {file}: errno {error}");
                            break;
                        }
                        try
                        {
                            for (int slice = 0; slice < 3; slice++)
                            {
                                long offset = random.NextInt64(0, expected.Length + 10);
                                int size = random.Next(1, buffer.Length);
                                long read = Libc.PRead(fd, buffer.AsSpan(0, size), offset);
                                long want = Math.Clamp(expected.Length - offset, 0, size);
                                if (read != want)
                                    Fail($"pread {size} at {offset} of {file}: {read}, expected {want}");
                                else if (!buffer.AsSpan(0, (int)read).SequenceEqual(expected.AsSpan((int)Math.Min(offset, expected.Length), (int)read)))
                                    Interlocked.Increment(ref wrongBytes);
                            }
                        }
                        finally
                        {
                            Libc.Close(fd);
                        }
                        break;
                    }
                }
                Interlocked.Increment(ref ops);
            }
        }

        Task[] workers = Enumerable.Range(0, Workers).Select(w => Task.Factory.StartNew(() => Work(w), TaskCreationOptions.LongRunning)).ToArray();
        while (!Task.WaitAll(workers, 250))
        {
            if (mount.HasExited)
                break;
            rss.Add((clock.Elapsed.TotalSeconds, ReliabilityStore.StatusKiB(mount.Pid, "VmRSS")));
        }
        Assert.That(Task.WaitAll(workers, TimeSpan.FromSeconds(120)), Is.True, "every worker's requests were answered");
        bool died = mount.HasExited;
        double seconds = clock.Elapsed.TotalSeconds;
        if (!died)
            rss.Add((seconds, ReliabilityStore.StatusKiB(mount.Pid, "VmRSS")));

        // Warm-up: the first fifth of the run (inodes and directories being filled in).
        var steady = rss.Where(s => s.Seconds >= duration.TotalSeconds / 5).DefaultIfEmpty(rss.LastOrDefault()).ToList();
        long first = steady[0].KiB, last = steady[^1].KiB, max = steady.Max(s => s.KiB);
        TestContext.Out.WriteLine(
            $"soak: {SoakSeconds} s asked, {seconds:F0} s run, {Workers} workers, {Directories * FilesPerDirectory} files: {ops} ops ({ops / seconds:F0}/s), " +
            $"{wrongBytes} wrong reads, {unexpected} unexpected errors" + (firstFailure >= 0 ? $" (the first at {firstFailure:F1} s)" : "") + $"; mount VmRSS after warm-up first {first / 1024.0:F1} MiB, " +
            $"last {last / 1024.0:F1} MiB, max {max / 1024.0:F1} MiB" +
            (died ? $"; THE MOUNT DIED (exit {mount.ExitCode})" : $"; VmHWM {ReliabilityStore.StatusKiB(mount.Pid, "VmHWM") / 1024.0:F1} MiB, {System.IO.Directory.GetFileSystemEntries($"/proc/{mount.Pid}/fd").Length} open descriptors"));
        Assert.That(died, Is.False,
            $"the mount process died during the soak (exit {(died ? mount.ExitCode : 0)}) after {ops} ops:\n"
            + string.Join('\n', mount.ErrorLines.TakeLast(10)) + "\nfirst failures:\n" + string.Join('\n', failures));

        Assert.That(wrongBytes, Is.Zero, "wrong bytes read");
        Assert.That(unexpected, Is.Zero, string.Join('\n', failures));
        // Flat: what the steady state adds is bounded (GC heaps breathe; a leak grows with ops).
        Assert.That(last, Is.LessThanOrEqualTo(Math.Max(first * 3 / 2, first + 64 * 1024)), "VmRSS grew after warm-up");
        mount.Signal(Libc.SIGTERM);
        Assert.That(mount.WaitForExit(60), Is.True);
        Assert.That(mount.ExitCode, Is.Zero, string.Join('\n', mount.ErrorLines));
    }

    /// <summary>
    /// A mount whose descriptor limit is already reached answers opens with EIO, and SIGTERM still
    /// unmounts it and exits 0 (the loop's thread cancellation must not need a descriptor).
    /// </summary>
    [Test]
    public async Task AMountOutOfDescriptorsStillStopsCleanly()
    {
        await using var store = new ReliabilityStore("nofds");
        string tree = await store.AddGeneratedTreeAsync("nofds", 2, 20, Content);
        string mountPoint = store.NewMountPoint();
        TvixlowfsProcess mount = store.Mount(mountPoint, store.StoreFlags);
        int held = System.IO.Directory.GetFileSystemEntries($"/proc/{mount.Pid}/fd").Length;
        string limit = (held + 1).ToString(CultureInfo.InvariantCulture);
        Assert.That(ReliabilityStore.Run("prlimit", "--pid", mount.Pid.ToString(CultureInfo.InvariantCulture), $"--nofile={limit}:{limit}"), Is.Zero, "prlimit");

        int failed = 0;
        for (int f = 0; f < 20; f++)
        {
            try
            {
                File.ReadAllBytes(Path.Combine(mountPoint, tree, "d0", "f" + f.ToString(CultureInfo.InvariantCulture)));
            }
            catch (IOException)
            {
                failed++;
            }
        }
        Assert.That(failed, Is.GreaterThan(0), "the limit left no room, so some opens must have failed");
        Assert.That(mount.HasExited, Is.False, "the mount must survive running out of descriptors");
        mount.Signal(Libc.SIGTERM);
        Assert.That(mount.WaitForExit(30), Is.True, "the mount must stop within 30 s of SIGTERM");
        Assert.That(mount.ExitCode, Is.Zero, string.Join('\n', mount.ErrorLines.TakeLast(5)));
        Assert.That(File.ReadAllText("/proc/self/mountinfo"), Does.Not.Contain(mountPoint));
    }

    /// <summary>
    /// More distinct files read than the mount may hold descriptors: every read still succeeds.
    /// (The mount's RLIMIT_NOFILE is lowered to 256 with prlimit; 1,000 files are read once each.)
    /// </summary>
    [Test]
    public async Task ReadingMoreFilesThanTheDescriptorLimitKeepsWorking()
    {
        await using var store = new ReliabilityStore("fds");
        string tree = await store.AddGeneratedTreeAsync("fds", 10, 100, Content);
        string mountPoint = store.NewMountPoint();
        TvixlowfsProcess mount = store.Mount(mountPoint, store.StoreFlags);
        Assert.That(ReliabilityStore.Run("prlimit", "--pid", mount.Pid.ToString(CultureInfo.InvariantCulture), "--nofile=256:256"), Is.Zero, "prlimit");

        var failed = new List<string>();
        for (int d = 0; d < 10; d++)
        {
            for (int f = 0; f < 100; f++)
            {
                string file = Path.Combine(mountPoint, tree, "d" + d.ToString(CultureInfo.InvariantCulture), "f" + f.ToString(CultureInfo.InvariantCulture));
                try
                {
                    if (!File.ReadAllBytes(file).AsSpan().SequenceEqual(Content(d * 100 + f)))
                        failed.Add(file + ": wrong bytes");
                }
                catch (IOException e)
                {
                    failed.Add(file + ": " + e.Message);
                }
            }
        }
        int descriptors = mount.HasExited ? -1 : System.IO.Directory.GetFileSystemEntries($"/proc/{mount.Pid}/fd").Length;
        string state = mount.HasExited ? $"the mount DIED (exit {mount.ExitCode})" : $"the mount holds {descriptors} descriptors";
        TestContext.Out.WriteLine($"descriptors: 1000 files read, {failed.Count} failed, {state}");
        Assert.That(failed, Is.Empty, $"{failed.Count} reads failed, e.g. {failed.FirstOrDefault()}; mount stderr:\n" + string.Join('\n', mount.ErrorLines.TakeLast(5)));
        Assert.That(mount.HasExited, Is.False);
        mount.Signal(Libc.SIGTERM);
        Assert.That(mount.WaitForExit(60), Is.True);
    }

    /// <summary>Resident-memory bound of a walk over 200,000 entries (VmHWM of the mount process), in MiB.</summary>
    public const int WalkBoundMiB = 256;

    [Test]
    public async Task AWalkOverTwoHundredThousandEntriesStaysUnderTheMemoryBound()
    {
        await using var store = new ReliabilityStore("walk");
        // 2,000 directories of 100 files, each its own inode: 202,001 entries with the root.
        string tree = await store.AddGeneratedTreeAsync("walk", 2000, 100, content: null);
        string mountPoint = store.NewMountPoint();
        TvixlowfsProcess mount = store.Mount(mountPoint, store.StoreFlags);
        long before = ReliabilityStore.StatusKiB(mount.Pid, "VmHWM");

        var find = Process.Start(new ProcessStartInfo("find", [Path.Combine(mountPoint, tree)]) { RedirectStandardOutput = true })!;
        long entries = 0;
        long peakRss = 0;
        while (find.StandardOutput.ReadLine() is not null)
        {
            if (++entries % 10_000 == 0)
                peakRss = Math.Max(peakRss, ReliabilityStore.StatusKiB(mount.Pid, "VmRSS"));
        }
        find.WaitForExit();
        long hwm = ReliabilityStore.StatusKiB(mount.Pid, "VmHWM");
        TestContext.Out.WriteLine(
            $"walk: {entries} entries; mount VmHWM {before / 1024.0:F1} MiB before, {hwm / 1024.0:F1} MiB after; sampled VmRSS max {peakRss / 1024.0:F1} MiB");

        Assert.That(find.ExitCode, Is.Zero);
        Assert.That(entries, Is.EqualTo(202_001));
        Assert.That(hwm, Is.LessThan(WalkBoundMiB * 1024L), $"VmHWM under {WalkBoundMiB} MiB");
        mount.Signal(Libc.SIGTERM);
        Assert.That(mount.WaitForExit(60), Is.True);
    }
}
