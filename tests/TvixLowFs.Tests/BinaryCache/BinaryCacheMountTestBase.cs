using NUnit.Framework;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// What the end-to-end binary-cache tests share: the real-Nix caches (built once per class), and
/// per test the static servers, stores, cache directories and <c>tvixlowfs</c> processes it starts
/// (all under one work directory; every mount is stopped and force-unmounted after the test).
/// </summary>
[CancelAfter(300_000)]
public abstract class BinaryCacheMountTestBase
{
    private readonly List<StaticHttpServer> _servers = [];
    private readonly List<(TvixlowfsProcess Process, string MountPoint)> _mounts = [];
    private int _directories;

    private protected NixBinaryCacheFixture Nix { get; private set; } = null!;

    /// <summary>Where the tests' stores, cache directories and mount points go (not inside the fixture's root).</summary>
    private protected string Work { get; private set; } = null!;

    [OneTimeSetUp]
    public void BuildTheCaches()
    {
        if (!File.Exists("/dev/fuse"))
            Assert.Fail("/dev/fuse is missing: the binary-cache mount tests need FUSE");
        Work = Path.Combine(Path.GetTempPath(), "tvixlowfs-binarycache-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Work);
        Nix = new NixBinaryCacheFixture();
    }

    [TearDown]
    public void StopWhatTheTestStarted()
    {
        foreach ((TvixlowfsProcess process, string mountPoint) in _mounts)
        {
            process.Dispose();
            InProcessMount.ForceUnmount(mountPoint);
        }
        _mounts.Clear();
        foreach (StaticHttpServer server in _servers)
            server.Dispose();
        _servers.Clear();
    }

    [OneTimeTearDown]
    public void RemoveEverything()
    {
        StopWhatTheTestStarted();
        Nix?.Dispose();
        if (Work is not null && Directory.Exists(Work))
            Directory.Delete(Work, recursive: true);
    }

    /// <summary>A fresh empty directory under <see cref="Work"/> (its name starts with <paramref name="prefix"/>).</summary>
    private protected string NewDirectory(string prefix)
    {
        string directory = Path.Combine(Work, $"{prefix}-{Interlocked.Increment(ref _directories)}");
        Directory.CreateDirectory(directory);
        return directory;
    }

    /// <summary>Serves <paramref name="directory"/> with python's static server until the test ends.</summary>
    private protected StaticHttpServer Serve(string directory)
    {
        var server = new StaticHttpServer(directory);
        _servers.Add(server);
        return server;
    }

    /// <summary>The blob and directory services of a <c>local://</c> store, as the user gives them.</summary>
    private protected static string[] ContentFlags(string store) =>
        ["--blob-service-addr", "local://" + store, "--directory-service-addr", "local://" + store];

    /// <summary>All three services of a <c>local://</c> store.</summary>
    private protected static string[] LocalStoreFlags(string store) =>
        [.. ContentFlags(store), "--path-info-service-addr", "local://" + store];

    /// <summary>
    /// <c>tvixlowfs mount MNT --path-info-service-addr ADDRESS</c> over the blobs and directories of
    /// <paramref name="store"/>, with <paramref name="cacheDirectory"/> as <c>--cache-dir</c>; returns
    /// once it printed "mounted MNT".
    /// </summary>
    private protected (TvixlowfsProcess Process, string MountPoint) Mount(string pathInfoAddress, string store, string cacheDirectory,
        params string[] flags) =>
        MountWith([.. ContentFlags(store), "--path-info-service-addr", pathInfoAddress, "--cache-dir", cacheDirectory, .. flags]);

    private protected (TvixlowfsProcess Process, string MountPoint) MountWith(string[] flags)
    {
        string mountPoint = NewDirectory("mnt");
        TvixlowfsProcess process = TvixlowfsProcess.Start(["mount", mountPoint, .. flags]);
        _mounts.Add((process, mountPoint));
        Assert.That(process.WaitForErrorLine("mounted " + mountPoint, 60), Is.True,
            "tvixlowfs mount did not mount:\n" + string.Join('\n', process.ErrorLines));
        return (process, mountPoint);
    }

    /// <summary>Stops a mount before the test ends (e.g. to start a second process on the same store).</summary>
    private protected void Unmount((TvixlowfsProcess Process, string MountPoint) mount)
    {
        mount.Process.Signal(Libc.SIGTERM);
        Assert.That(mount.Process.WaitForExit(30), Is.True, "the mount exits on SIGTERM");
        InProcessMount.ForceUnmount(mount.MountPoint);
    }

    /// <summary>
    /// Runs file-system calls on the mount (which block for as long as the mount makes them wait)
    /// on their own thread, and fails the test after <paramref name="seconds"/> or when NUnit's
    /// [CancelAfter] fires, instead of hanging; teardown then kills the mount, which frees the thread.
    /// </summary>
    private protected static void Bounded(string what, int seconds, Action action)
    {
        Task task = Task.Factory.StartNew(action, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            if (!task.Wait(TimeSpan.FromSeconds(seconds), TestContext.CurrentContext.CancellationToken))
                Assert.Fail($"{what} did not finish in {seconds} s");
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{what}: the test ran out of time");
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
    }

    /// <summary>The stderr lines of <paramref name="process"/> that name <paramref name="basename"/> (its hash or its whole name).</summary>
    private protected static string[] LinesNaming(TvixlowfsProcess process, string basename) =>
        [.. process.ErrorLines.Where(line => line.Contains(NixBinaryCacheFixture.HashOf(basename), StringComparison.Ordinal))];

    /// <summary>Files named by the store path's hash anywhere under <paramref name="directories"/> (a registered PathInfo is one).</summary>
    private protected static string[] FilesNamedByHash(string basename, params string[] directories)
    {
        string hash = NixBinaryCacheFixture.HashOf(basename);
        return [.. directories.Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories))
            .Where(file => Path.GetFileName(file).StartsWith(hash, StringComparison.Ordinal))];
    }
}
