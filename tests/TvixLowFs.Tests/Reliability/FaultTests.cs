using System.Diagnostics;
using NUnit.Framework;
using TvixLowFs.Store.Model;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Grpc;
using TvixLowFs.Tests.Mount;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Reliability;

/// <summary>
/// Faults under a live mount: the upstream daemon paused (SIGSTOP) and killed, the mount process
/// killed, the disk filling up under an import and under the mount's cache, a reader killed in
/// the middle of a read. Every request is answered (EIO within the deadline, never a hang), the
/// store stays consistent (<c>verify</c> passes) and everything recovers by itself.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class FaultTests
{
    private const int SIGSTOP = 19, SIGCONT = 18;

    /// <summary>Generous bound on "answered at all" (liveness, not speed).</summary>
    private static readonly TimeSpan Answered = TimeSpan.FromSeconds(60);

    /// <summary>The mount's --grpc-timeout against the paused daemon.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(2);

    /// <summary>
    /// "EIO within the deadline": a request against a paused daemon is answered once the deadline
    /// of the calls it makes has passed (a lookup makes one, an open at most two: the blob's stat
    /// then its read), plus slack for a busy 2-core machine that is far below the 60 s of
    /// <see cref="Answered"/>: a request that waits for anything but the deadline fails here.
    /// </summary>
    private static readonly TimeSpan WithinTheDeadline = 2 * Deadline + TimeSpan.FromSeconds(8);

    private ReliabilityStore _store = null!;
    private readonly List<string> _tmpfs = [];

    [SetUp]
    public void NewStore() => _store = new ReliabilityStore("faults");

    [TearDown]
    public async Task Cleanup()
    {
        await _store.DisposeAsync();
        foreach (string directory in _tmpfs)
        {
            InProcessMount.ForceUnmount(directory); // a mount left below a tmpfs blocks its unmount
            ReliabilityStore.Run("umount", "-l", directory);
        }
        if (System.IO.Directory.Exists(_store.Root))
            System.IO.Directory.Delete(_store.Root, recursive: true);
    }

    private string NewTmpfs(string name, string size)
    {
        string directory = Path.Combine(_store.Root, name);
        System.IO.Directory.CreateDirectory(directory);
        Assert.That(ReliabilityStore.Run("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", directory), Is.Zero, "mount -t tmpfs");
        _tmpfs.Add(directory);
        return directory;
    }

    /// <summary>Runs a syscall-making function on its own thread and returns its result, failing (not hanging) if it is never answered.</summary>
    private static T Within<T>(string what, Func<T> call) => Within(what, Answered, call);

    /// <summary>The same, failing if the answer takes longer than <paramref name="bound"/> (or the test's CancelAfter fires).</summary>
    private static T Within<T>(string what, TimeSpan bound, Func<T> call)
    {
        var task = Task.Factory.StartNew(call, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.That(task.Wait(bound, TestContext.CurrentContext.CancellationToken), Is.True, $"{what} was not answered within {bound.TotalSeconds:F0} s");
        return task.Result;
    }

    /// <summary>
    /// Waits until process <paramref name="pid"/> sleeps in the kernel waiting for a FUSE reply
    /// (<c>/proc/PID/wchan</c> names a fuse function such as request_wait_answer), instead of
    /// sleeping and hoping it got there; false if it does not within <see cref="Answered"/>.
    /// </summary>
    private static bool WaitUntilWaitingOnFuse(int pid)
    {
        DateTime giveUp = DateTime.UtcNow + Answered;
        string wchan = "";
        while (DateTime.UtcNow < giveUp)
        {
            try
            {
                wchan = File.ReadAllText($"/proc/{pid}/wchan");
            }
            catch (IOException)
            {
                return false; // it exited: it was never stuck
            }
            if (wchan.Contains("fuse", StringComparison.Ordinal) || wchan.Contains("request_wait_answer", StringComparison.Ordinal))
                return true;
            Thread.Sleep(20);
        }
        TestContext.Out.WriteLine($"last wchan of {pid}: {wchan}");
        return false;
    }

    private TvixlowfsProcess StartDaemon(string socket)
    {
        TvixlowfsProcess daemon = _store.Start(["daemon", "--listen-address", "unix://" + socket, "--log-level", "Information", .. _store.StoreFlags]);
        Assert.That(daemon.WaitForErrorLine("serving"), Is.True, string.Join('\n', daemon.ErrorLines));
        return daemon;
    }

    private static string[] RemoteFlags(string socket, params string[] more)
    {
        string address = "grpc+unix://" + socket;
        return ["--blob-service-addr", address, "--directory-service-addr", address, "--path-info-service-addr", address, .. more];
    }

    [Test]
    public async Task APausedOrKilledDaemonGivesEioWithinTheDeadlineAndTheMountRecovers()
    {
        var contents = Enumerable.Range(0, 6).Select(i => Samples.Bytes(1_000_000 + i, 100 + i)).ToArray();
        var paths = new string[contents.Length];
        for (int i = 0; i < contents.Length; i++)
            paths[i] = await _store.AddFileAsync("file" + i, contents[i]);
        string socket = Path.Combine(_store.Root, "daemon.sock");
        TvixlowfsProcess daemon = StartDaemon(socket);
        string mountPoint = _store.NewMountPoint();
        TvixlowfsProcess mount = _store.Mount(mountPoint, RemoteFlags(socket, "--grpc-timeout", Deadline.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--cache-dir", Path.Combine(_store.Root, "cache")));
        string P(int i) => Path.Combine(mountPoint, paths[i]);

        Assert.That(File.ReadAllBytes(P(0)), Is.EqualTo(contents[0]));
        Assert.That(Libc.LStat(P(2), out _), Is.Zero, "looked up before the pause: only its blob is still to fetch");
        Assert.That(Libc.LStat(P(4), out _), Is.Zero);

        daemon.Signal(SIGSTOP);
        var clock = Stopwatch.StartNew();
        Assert.That(Within("lookup against a paused daemon", WithinTheDeadline, () => Libc.LStat(P(1), out _)), Is.EqualTo(Libc.EIO), "lookup (PathInfo) against a paused daemon");
        double lookupSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        Assert.That(Within("open against a paused daemon", WithinTheDeadline, () => Libc.Open(P(2), Libc.O_RDONLY).Errno), Is.EqualTo(Libc.EIO), "open (blob) against a paused daemon");
        double openSeconds = clock.Elapsed.TotalSeconds;

        // A reader stuck on the paused daemon, killed: its request is answered or interrupted.
        using (var cat = Process.Start(new ProcessStartInfo("cat", [P(4)]) { RedirectStandardOutput = true })!)
        {
            Assert.That(WaitUntilWaitingOnFuse(cat.Id), Is.True, "cat is blocked in a FUSE request (its wchan), not merely started");
            cat.Kill();
            Assert.That(cat.WaitForExit((int)Answered.TotalMilliseconds), Is.True, "the killed reader is gone");
        }
        Assert.That(File.ReadAllBytes(P(0)), Is.EqualTo(contents[0]), "what the mount holds is still served");
        TestContext.Out.WriteLine($"paused daemon: lookup EIO after {lookupSeconds:F1} s, open EIO after {openSeconds:F1} s (deadline {Deadline.TotalSeconds} s)");

        daemon.Signal(SIGCONT);
        Assert.That(File.ReadAllBytes(P(1)), Is.EqualTo(contents[1]), "recovered after SIGCONT");
        Assert.That(File.ReadAllBytes(P(2)), Is.EqualTo(contents[2]));
        Assert.That(File.ReadAllBytes(P(4)), Is.EqualTo(contents[4]));

        daemon.Signal(Libc.SIGKILL);
        Assert.That(daemon.WaitForExit(30), Is.True);
        Assert.That(Within("lookup with the daemon killed", WithinTheDeadline, () => Libc.LStat(P(3), out _)), Is.EqualTo(Libc.EIO), "lookup with the daemon killed");
        StartDaemon(socket);
        Assert.That(File.ReadAllBytes(P(3)), Is.EqualTo(contents[3]), "recovered after a restart on the same socket");
        Assert.That(File.ReadAllBytes(P(5)), Is.EqualTo(contents[5]));

        mount.Signal(Libc.SIGTERM);
        Assert.That(mount.WaitForExit(60), Is.True);
        Assert.That(mount.ExitCode, Is.Zero, string.Join('\n', mount.ErrorLines));
        Assert.That(InProcessMount.IsMountPoint(mountPoint), Is.False, "unmounted cleanly");
    }

    [Test]
    public async Task AMountKilledDuringReadsIsRecoveredByTheNextMount()
    {
        byte[] big = Samples.Bytes(24 * 1024 * 1024, 3);
        string path = await _store.AddFileAsync("big", big);
        string mountPoint = _store.NewMountPoint();
        TvixlowfsProcess mount = _store.Mount(mountPoint, _store.StoreFlags);
        string file = Path.Combine(mountPoint, path);
        using var stop = new CancellationTokenSource();
        Task<int> reader = Task.Factory.StartNew(() =>
        {
            int rounds = 0;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
                    stream.CopyTo(Stream.Null, 64 * 1024);
                    rounds++;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return rounds; // the mount went away under the reader
                }
            }
            return rounds;
        }, TaskCreationOptions.LongRunning);
        Thread.Sleep(500);
        mount.Signal(Libc.SIGKILL);
        Assert.That(mount.WaitForExit(30), Is.True);
        Assert.That(reader.Wait(Answered), Is.True, "the reader is not left hanging");
        stop.Cancel();
        Assert.That(Libc.LStat(mountPoint, out _), Is.EqualTo(Libc.ENOTCONN), "left stale");

        TvixlowfsProcess again = _store.Mount(mountPoint, _store.StoreFlags);
        Assert.That(again.ErrorLines.Any(line => line.Contains("stale", StringComparison.Ordinal)), Is.True, string.Join('\n', again.ErrorLines));
        Assert.That(File.ReadAllBytes(file).AsSpan().SequenceEqual(big), Is.True);
        again.Signal(Libc.SIGTERM);
        Assert.That(again.WaitForExit(60), Is.True);
        Assert.That(again.ExitCode, Is.Zero);
    }

    [Test]
    public void ADiskFullImportFailsClearlyAndLeavesTheStoreConsistent()
    {
        string disk = NewTmpfs("disk", "8m");
        string storeDirectory = Path.Combine(disk, "store");
        string address = "local://" + storeDirectory;
        string[] flags = ["--blob-service-addr", address, "--directory-service-addr", address, "--path-info-service-addr", address];
        string small = Path.Combine(_store.Root, "small.txt");
        File.WriteAllText(small, "fits on the disk\n");
        (int exit, string[] output, string[] error) = TvixlowfsProcess.Run(["import", small, .. flags]);
        Assert.That(exit, Is.Zero, string.Join('\n', error));
        string smallPath = output[0]["/nix/store/".Length..];

        // Four 3 MiB files: the first ones fit, a later one fills the disk.
        string tree = Path.Combine(_store.Root, "too-big");
        System.IO.Directory.CreateDirectory(tree);
        var blobs = new List<B3Digest>();
        for (int i = 0; i < 4; i++)
        {
            byte[] bytes = Samples.Bytes(3 * 1024 * 1024, 50 + i);
            File.WriteAllBytes(Path.Combine(tree, "part" + i), bytes);
            blobs.Add(B3Digest.Compute(bytes));
        }
        (exit, output, error) = TvixlowfsProcess.Run(["import", tree, .. flags]);
        Assert.That(exit, Is.Not.Zero);
        Assert.That(output, Is.Empty, "no store path printed");
        Assert.That(error, Has.Length.EqualTo(1), string.Join('\n', error));
        Assert.That(error[0], Does.Contain("No space left on device").And.Contain(storeDirectory), error[0]);
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Combine(storeDirectory, "pathinfos")).Count(), Is.EqualTo(1), "no PathInfo for the failed import");
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Combine(storeDirectory, "tmp")), Is.Empty, "no temp file left behind");

        (exit, output, error) = TvixlowfsProcess.Run(["verify", .. flags]);
        Assert.That(exit, Is.Zero, string.Join('\n', output.Concat(error)));

        string mountPoint = _store.NewMountPoint();
        TvixlowfsProcess mount = _store.Mount(mountPoint, flags);
        Assert.That(File.ReadAllText(Path.Combine(mountPoint, smallPath)), Is.EqualTo("fits on the disk\n"));
        mount.Signal(Libc.SIGTERM);
        Assert.That(mount.WaitForExit(60), Is.True);
    }

    [Test]
    public async Task ADiskFullCacheGivesEioAndKeepsNoPartialObject()
    {
        byte[] big = Samples.Bytes(16 * 1024 * 1024, 9);
        byte[] small = Samples.Bytes(10_000, 10);
        string bigPath = await _store.AddFileAsync("big", big);
        string smallPath = await _store.AddFileAsync("small", small);
        string socket = Path.Combine(_store.Root, "daemon.sock");
        StartDaemon(socket);
        string cache = Path.Combine(NewTmpfs("cache-disk", "8m"), "cache");
        string mountPoint = _store.NewMountPoint();
        TvixlowfsProcess mount = _store.Mount(mountPoint, RemoteFlags(socket, "--grpc-timeout", "5", "--cache-dir", cache));

        Assert.That(File.ReadAllBytes(Path.Combine(mountPoint, smallPath)), Is.EqualTo(small));
        int errno = Within("read of a blob bigger than the cache's disk", () =>
        {
            (int fd, int error) = Libc.Open(Path.Combine(mountPoint, bigPath), Libc.O_RDONLY);
            if (error != 0)
                return error;
            try
            {
                var buffer = new byte[1 << 20];
                for (long offset = 0; offset < big.Length; offset += buffer.Length)
                {
                    long read = Libc.PRead(fd, buffer, offset);
                    if (read < 0)
                        return (int)-read;
                }
                return 0;
            }
            finally
            {
                Libc.Close(fd);
            }
        });
        Assert.That(errno, Is.EqualTo(Libc.EIO), "the blob cannot be filled into the cache");
        Assert.That(mount.WaitForErrorLine("No space left on device", 10), Is.True, string.Join('\n', mount.ErrorLines));
        Assert.That(File.Exists(Path.Combine(cache, "blobs", B3Digest.Compute(big).ToHex()[..2], B3Digest.Compute(big).ToHex())), Is.False,
            "no partial blob under its final name");
        Assert.That(File.ReadAllBytes(Path.Combine(mountPoint, smallPath)), Is.EqualTo(small), "still serving");

        string address = "local://" + cache;
        (int exit, string[] output, string[] error) = TvixlowfsProcess.Run(["verify", "--blob-service-addr", address, "--directory-service-addr", address, "--path-info-service-addr", address]);
        Assert.That(exit, Is.Zero, string.Join('\n', output.Concat(error)));
        mount.Signal(Libc.SIGTERM);
        Assert.That(mount.WaitForExit(60), Is.True);
        Assert.That(mount.ExitCode, Is.Zero, string.Join('\n', mount.ErrorLines));
    }
}
