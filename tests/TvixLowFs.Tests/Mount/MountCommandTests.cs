using System.Text;
using NUnit.Framework;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Store.Model;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Mount;

/// <summary>
/// <c>tvixlowfs import</c> then <c>tvixlowfs mount</c> as separate processes over a local:// store,
/// checked the way a user would: the mounted tree equals the imported one, signals unmount and
/// exit 0, a stale mount is cleaned, bad destinations fail with one line.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class MountCommandTests
{
    private string _root = null!;
    private string _source = null!;
    private string _single = null!;
    private string[] _storeFlags = null!;
    private string _treePath = null!, _singlePath = null!;
    private readonly List<TvixlowfsProcess> _processes = [];
    private readonly List<string> _mountPoints = [];
    private string _mountPoint = null!;

    [OneTimeSetUp]
    public void ImportAndMount()
    {
        if (!File.Exists("/dev/fuse"))
            Assert.Fail("/dev/fuse is missing: the mount tests need FUSE");
        _root = Path.Combine(Path.GetTempPath(), "tvixlowfs-mount-cmd-" + Guid.NewGuid().ToString("N"));
        _source = Path.Combine(_root, "src");
        string store = Path.Combine(_root, "store");
        System.IO.Directory.CreateDirectory(store);
        BuildSourceTree(_source);
        _single = Path.Combine(_root, "single.txt");
        File.WriteAllText(_single, "just one file\n");
        string address = "local://" + store;
        _storeFlags = ["--blob-service-addr", address, "--directory-service-addr", address, "--path-info-service-addr", address];

        (int exit, string[] output, string[] error) = TvixlowfsProcess.Run(["import", _source, _single, .. _storeFlags]);
        Assert.That(exit, Is.Zero, string.Join('\n', error));
        Assert.That(output, Has.Length.EqualTo(2));
        _treePath = output[0]["/nix/store/".Length..];
        _singlePath = output[1]["/nix/store/".Length..];

        _mountPoint = NewMountPoint();
        StartMount(_mountPoint, "--show-xattr", "--list-root", "--threads", "4");
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        foreach (TvixlowfsProcess process in _processes)
            process.Dispose();
        foreach (string mountPoint in _mountPoints)
            InProcessMount.ForceUnmount(mountPoint);
        if (_root is not null && System.IO.Directory.Exists(_root))
            System.IO.Directory.Delete(_root, recursive: true);
    }

    private string NewMountPoint()
    {
        string mountPoint = Path.Combine(_root, "mnt-" + _mountPoints.Count);
        System.IO.Directory.CreateDirectory(mountPoint);
        _mountPoints.Add(mountPoint);
        return mountPoint;
    }

    private TvixlowfsProcess StartMount(string mountPoint, params string[] flags)
    {
        TvixlowfsProcess process = TvixlowfsProcess.Start(["mount", mountPoint, .. flags, .. _storeFlags]);
        _processes.Add(process);
        Assert.That(process.WaitForErrorLine("mounted " + mountPoint), Is.True, string.Join('\n', process.ErrorLines));
        return process;
    }

    private static void BuildSourceTree(string source)
    {
        System.IO.Directory.CreateDirectory(Path.Combine(source, "bin"));
        System.IO.Directory.CreateDirectory(Path.Combine(source, "share", "doc", "deep"));
        System.IO.Directory.CreateDirectory(Path.Combine(source, "empty"));
        File.WriteAllText(Path.Combine(source, "README"), "readme\n");
        File.WriteAllText(Path.Combine(source, "share", "doc", "README.copy"), "readme\n");
        File.WriteAllText(Path.Combine(source, "bin", "tool"), "#!/bin/sh\necho tool\n");
        File.SetUnixFileMode(Path.Combine(source, "bin", "tool"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(Path.Combine(source, "share", "doc", "deep", "note.txt"), "deep note\n");
        File.WriteAllBytes(Path.Combine(source, "share", "empty-file"), []);
        var big = new byte[1_300_000];
        new Random(3).NextBytes(big);
        File.WriteAllBytes(Path.Combine(source, "share", "big.bin"), big);
        File.CreateSymbolicLink(Path.Combine(source, "bin", "tool-link"), "tool");
        File.CreateSymbolicLink(Path.Combine(source, "absolute-link"), "/nix/store/elsewhere");
        File.CreateSymbolicLink(Path.Combine(source, "share", "dangling"), "../missing");
    }

    [Test]
    public void TheMountedTreeEqualsTheImportedOne()
    {
        CompareTrees(_source, Path.Combine(_mountPoint, _treePath));
        Assert.That(File.ReadAllText(Path.Combine(_mountPoint, _singlePath)), Is.EqualTo("just one file\n"));
    }

    private static void CompareTrees(string expected, string actual)
    {
        var expectedNames = System.IO.Directory.EnumerateFileSystemEntries(expected).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var actualNames = System.IO.Directory.EnumerateFileSystemEntries(actual).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.That(actualNames, Is.EqualTo(expectedNames), actual);
        foreach (string name in expectedNames!)
        {
            string e = Path.Combine(expected, name!), a = Path.Combine(actual, name!);
            var expectedInfo = new FileInfo(e);
            var actualInfo = new FileInfo(a);
            if (expectedInfo.LinkTarget is { } target)
            {
                Assert.That(actualInfo.LinkTarget, Is.EqualTo(target), a);
            }
            else if (System.IO.Directory.Exists(e))
            {
                Assert.That(System.IO.Directory.Exists(a), Is.True, a);
                CompareTrees(e, a);
            }
            else
            {
                Assert.That(File.ReadAllBytes(a), Is.EqualTo(File.ReadAllBytes(e)), a);
                bool executable = (File.GetUnixFileMode(e) & UnixFileMode.UserExecute) != 0;
                Assert.That(File.GetUnixFileMode(a), Is.EqualTo(executable
                    ? UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute
                    : UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead), a);
            }
        }
    }

    [Test]
    public void TheMountIsAReadOnlyFuseTvixlowfs()
    {
        string? type = InProcessMount.MountType(_mountPoint);
        Assert.That(type, Does.StartWith("fuse.tvixlowfs tvixlowfs ro"));
        Assert.That(type, Does.Contain("nosuid").And.Contain("nodev"));
        Assert.That(Libc.Mkdir(Path.Combine(_mountPoint, _treePath, "new")), Is.EqualTo(Libc.EROFS));
        Assert.That(Libc.Open(Path.Combine(_mountPoint, _treePath, "README"), Libc.O_RDWR).Errno, Is.EqualTo(Libc.EROFS));
        Assert.That(Libc.Unlink(Path.Combine(_mountPoint, _treePath, "README")), Is.EqualTo(Libc.EROFS));
    }

    [Test]
    public void ListRootShowsTheImportedPaths()
    {
        (List<string> names, int errno) = Libc.ListDirectory(_mountPoint);
        Assert.That(errno, Is.Zero);
        Assert.That(names, Is.SupersetOf(new[] { ".", "..", _treePath, _singlePath }));
    }

    [Test]
    public void SharedContentSharesInodesAndXattrsNameDigests()
    {
        string tree = Path.Combine(_mountPoint, _treePath);
        Assert.That(Libc.LStat(Path.Combine(tree, "README")).Ino, Is.EqualTo(Libc.LStat(Path.Combine(tree, "share", "doc", "README.copy")).Ino));
        (_, byte[] value, int errno) = Libc.GetXattr(Path.Combine(tree, "README"), "user.tvix.castore.blob.digest", 64);
        Assert.That(errno, Is.Zero);
        Assert.That(Encoding.ASCII.GetString(value), Is.EqualTo(B3Digest.Compute("readme\n"u8).ToString()));
        Stat link = Libc.LStat(Path.Combine(tree, "absolute-link"));
        Assert.That(link.Size, Is.EqualTo("/nix/store/elsewhere".Length));
    }

    [Test]
    public void BadDestinationsFailWithOneLine()
    {
        string missing = Path.Combine(_root, "no-such-dir");
        (int exit, _, string[] error) = TvixlowfsProcess.Run(["mount", missing, .. _storeFlags]);
        Assert.That(exit, Is.Not.Zero);
        Assert.That(error, Has.Length.EqualTo(1));
        Assert.That(error[0], Does.Contain(missing).And.Contain("does not exist"));

        (exit, _, error) = TvixlowfsProcess.Run(["mount", _single, .. _storeFlags]);
        Assert.That(exit, Is.Not.Zero);
        Assert.That(error, Has.Length.EqualTo(1));
        Assert.That(error[0], Does.Contain("not a directory"));

        (exit, _, error) = TvixlowfsProcess.Run(["mount", _mountPoint, .. _storeFlags]);
        Assert.That(exit, Is.Not.Zero);
        Assert.That(error, Has.Length.EqualTo(1));
        Assert.That(error[0], Does.Contain("already mounted"));
        Assert.That(File.ReadAllText(Path.Combine(_mountPoint, _singlePath)), Is.EqualTo("just one file\n"), "the live mount is untouched");
    }

    [Test]
    public void SigtermUnmountsAndExitsZeroWhileReadsAreInFlight()
    {
        string mountPoint = NewMountPoint();
        TvixlowfsProcess mount = StartMount(mountPoint);
        string big = Path.Combine(mountPoint, _treePath, "share", "big.bin");
        Assert.That(new FileInfo(big).Length, Is.EqualTo(1_300_000));
        using var stop = new CancellationTokenSource();
        int completed = 0, reading = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var readers = Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(() =>
        {
            var buffer = new byte[64 * 1024];
            while (!stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref reading);
                try
                {
                    using var stream = new FileStream(big, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
                    long total = 0;
                    for (int n; (n = stream.Read(buffer)) > 0;)
                        total += n;
                    if (total != 1_300_000)
                        failures.Enqueue($"read {total} bytes of 1,300,000 while the mount was up");
                    Interlocked.Increment(ref completed);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return; // the mount went away under the reader: expected once SIGTERM is sent
                }
                finally
                {
                    Interlocked.Decrement(ref reading);
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();

        // Reads in flight, not a sleep: every reader has finished whole reads, and one is inside a read now.
        DateTime giveUp = DateTime.UtcNow.AddSeconds(60);
        while (!(Volatile.Read(ref completed) >= 8 && Volatile.Read(ref reading) > 0) && DateTime.UtcNow < giveUp && !readers.Any(r => r.IsCompleted))
            Thread.Yield();
        Assert.That(readers.Any(r => r.IsCompleted), Is.False, "no reader stopped before SIGTERM: " + string.Join("; ", failures));
        Assert.That(Volatile.Read(ref completed), Is.GreaterThanOrEqualTo(8), "the readers were reading whole files before SIGTERM");
        mount.Signal(Libc.SIGTERM);
        Assert.That(mount.WaitForExit(60), Is.True, "exits after SIGTERM");
        stop.Cancel();
        Assert.That(Task.WaitAll(readers, TimeSpan.FromSeconds(60)), Is.True, "every reader returned once the mount was gone (none left hanging)");
        Assert.That(failures, Is.Empty, "no short read while the mount was up");
        Assert.That(mount.ExitCode, Is.Zero, string.Join('\n', mount.ErrorLines));
        Assert.That(InProcessMount.IsMountPoint(mountPoint), Is.False, "unmounted");
    }

    [Test]
    public void SigintUnmountsAndExitsZero()
    {
        string mountPoint = NewMountPoint();
        TvixlowfsProcess mount = StartMount(mountPoint);
        Assert.That(Libc.ListDirectory(mountPoint).Errno, Is.EqualTo(Libc.EPERM), "no --list-root");
        mount.Signal(Libc.SIGINT);
        Assert.That(mount.WaitForExit(60), Is.True);
        Assert.That(mount.ExitCode, Is.Zero, string.Join('\n', mount.ErrorLines));
        Assert.That(InProcessMount.IsMountPoint(mountPoint), Is.False);
    }

    [Test]
    public void AnInheritedIgnoredSigintStaysIgnoredAndSigtermStillUnmounts()
    {
        // As libfuse's own fuse_set_signal_handlers: a mount started as a shell's background job
        // must not die with the terminal's Ctrl-C.
        string mountPoint = NewMountPoint();
        TvixlowfsProcess mount = TvixlowfsProcess.Start(["mount", mountPoint, .. _storeFlags], ignoreInterrupt: true);
        _processes.Add(mount);
        Assert.That(mount.WaitForErrorLine("mounted " + mountPoint), Is.True, string.Join('\n', mount.ErrorLines));
        mount.Signal(Libc.SIGINT);
        Assert.That(mount.WaitForExit(2), Is.False, "still running after an ignored SIGINT");
        Assert.That(InProcessMount.IsMountPoint(mountPoint), Is.True);
        mount.Signal(Libc.SIGTERM);
        Assert.That(mount.WaitForExit(60), Is.True, "exits after SIGTERM");
        Assert.That(mount.ExitCode, Is.Zero, string.Join('\n', mount.ErrorLines));
        Assert.That(InProcessMount.IsMountPoint(mountPoint), Is.False);
    }

    [Test]
    public void PassthroughIsOnByDefaultAndNoPassthroughServesTheSameBytes()
    {
        string[] files = System.IO.Directory.EnumerateFiles(_source, "*", SearchOption.AllDirectories)
            .Where(path => !new FileInfo(path).Attributes.HasFlag(FileAttributes.ReparsePoint)).ToArray();
        Assert.That(files, Is.Not.Empty);
        foreach (string[] flags in new[] { new[] { "--log-level", "Information" }, new[] { "--no-passthrough", "--log-level", "Information" } })
        {
            string mountPoint = NewMountPoint();
            TvixlowfsProcess mount = StartMount(mountPoint, flags);
            foreach (string file in files)
            {
                string mounted = Path.Combine(mountPoint, _treePath, Path.GetRelativePath(_source, file));
                Assert.That(File.ReadAllBytes(mounted), Is.EqualTo(File.ReadAllBytes(file)), $"{mounted} with {string.Join(' ', flags)}");
            }
            mount.Signal(Libc.SIGTERM);
            Assert.That(mount.WaitForExit(60), Is.True);
            Assert.That(mount.ExitCode, Is.Zero, string.Join('\n', mount.ErrorLines));
            string[] reports = mount.ErrorLines.Where(line => line.Contains("kernel passthrough", StringComparison.Ordinal)).ToArray();
            if (flags[0] == "--no-passthrough")
            {
                Assert.That(reports, Is.Empty, "--no-passthrough does not even offer it");
            }
            else
            {
                // On by default exactly where the kernel offers it: decided here from the kernel, not read back from the mount.
                string expected = "kernel passthrough: " + (KernelPassthrough.Offered() ? "on" : "off");
                Assert.That(reports, Has.Length.EqualTo(1).And.Some.Contains(expected), $"{KernelPassthrough.Describe()}\n" + string.Join('\n', mount.ErrorLines));
            }
        }
    }

    [Test]
    public void AStaleMountIsCleanedBeforeMountingAgain()
    {
        string mountPoint = NewMountPoint();
        TvixlowfsProcess killed = StartMount(mountPoint);
        killed.Signal(Libc.SIGKILL);
        Assert.That(killed.WaitForExit(60), Is.True);
        Assert.That(Libc.LStat(mountPoint, out _), Is.EqualTo(Libc.ENOTCONN), "left stale");

        TvixlowfsProcess again = StartMount(mountPoint);
        Assert.That(again.ErrorLines.Any(line => line.Contains("stale")), Is.True, string.Join('\n', again.ErrorLines));
        Assert.That(File.ReadAllText(Path.Combine(mountPoint, _treePath, "README")), Is.EqualTo("readme\n"));
        again.Signal(Libc.SIGTERM);
        Assert.That(again.WaitForExit(60), Is.True);
        Assert.That(again.ExitCode, Is.Zero);
    }
}
