using System.Net;
using System.Text;
using NUnit.Framework;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Reliability;

/// <summary>
/// What a user gets without asking: a read-only, nosuid, nodev mount; kernel permission checks
/// whenever other users are let in; a daemon on loopback or an owner-only unix socket; and logs
/// that never carry file contents, even at Trace.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class SafeDefaultsTests
{
    private const string Secret = "TVIXLOWFS-SECRET-CONTENT-5c1e7";

    private ReliabilityStore _store = null!;
    private string _secretFile = null!;

    [OneTimeSetUp]
    public async Task StoreASecret()
    {
        _store = new ReliabilityStore("defaults");
        _secretFile = await _store.AddFileAsync("secret", Encoding.UTF8.GetBytes(Secret + "\n" + Secret + "\n"));
    }

    [OneTimeTearDown]
    public async Task Cleanup() => await _store.DisposeAsync();

    [Test]
    public void TheMountIsReadOnlyNosuidNodevWithoutPermissionChecksForOthers()
    {
        string mountPoint = _store.NewMountPoint();
        TvixlowfsProcess mount = _store.Mount(mountPoint, _store.StoreFlags);
        var info = ReliabilityStore.MountInfo(mountPoint);
        Assert.That(info, Is.Not.Null);
        string[] options = info!.Value.MountOptions.Split(',');
        Assert.That(options, Does.Contain("ro").And.Contain("nosuid").And.Contain("nodev"), info.Value.MountOptions);
        Assert.That(info.Value.FsType, Is.EqualTo("fuse.tvixlowfs"));
        Assert.That(info.Value.SuperOptions.Split(','), Does.Not.Contain("allow_other"), "only the mounting user by default");
        mount.Signal(Libc.SIGTERM);
        Assert.That(mount.WaitForExit(60), Is.True);
    }

    [Test]
    public void AllowOtherAlsoTurnsOnTheKernelsPermissionChecks()
    {
        string mountPoint = _store.NewMountPoint();
        TvixlowfsProcess mount = _store.Mount(mountPoint, ["--allow-other", .. _store.StoreFlags]);
        var info = ReliabilityStore.MountInfo(mountPoint);
        Assert.That(info, Is.Not.Null);
        Assert.That(info!.Value.MountOptions.Split(','), Does.Contain("ro").And.Contain("nosuid").And.Contain("nodev"));
        Assert.That(info.Value.SuperOptions.Split(','), Does.Contain("allow_other").And.Contain("default_permissions"), info.Value.SuperOptions);
        Assert.That(File.ReadAllText(Path.Combine(mountPoint, _secretFile)), Does.StartWith(Secret));
        mount.Signal(Libc.SIGTERM);
        Assert.That(mount.WaitForExit(60), Is.True);
    }

    [Test]
    public void TheDaemonDefaultsToLoopbackAndRefusesOtherAddressesUnlessAllowed()
    {
        ListenAddress fallback = ListenAddress.Parse(ListenAddress.Default);
        Assert.That(fallback.Tcp, Is.Not.Null);
        Assert.That(IPAddress.IsLoopback(fallback.Tcp!.Address), Is.True, ListenAddress.Default);

        (int exit, _, string[] error) = TvixlowfsProcess.Run(["daemon", "--listen-address", "0.0.0.0:0", .. _store.StoreFlags]);
        Assert.That(exit, Is.Not.Zero);
        Assert.That(string.Join('\n', error), Does.Contain("loopback"));
    }

    [Test]
    public void TheDaemonsUnixSocketIsOwnerOnly()
    {
        string socket = Path.Combine(_store.Root, "daemon.sock");
        TvixlowfsProcess daemon = _store.Start(["daemon", "--listen-address", "unix://" + socket, "--log-level", "Information", .. _store.StoreFlags]);
        Assert.That(daemon.WaitForErrorLine("serving"), Is.True, string.Join('\n', daemon.ErrorLines));
        UnixFileMode mode = File.GetUnixFileMode(socket);
        Assert.That(mode, Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite), $"socket mode {mode}");
        daemon.Signal(Libc.SIGTERM);
        Assert.That(daemon.WaitForExit(60), Is.True);
    }

    /// <summary>A mount and a daemon at Trace, a file read through both: its contents appear in no log line.</summary>
    [Test]
    public void FileContentsNeverAppearInLogsEvenAtTrace()
    {
        string socket = Path.Combine(_store.Root, "trace.sock");
        TvixlowfsProcess daemon = _store.Start(["daemon", "--listen-address", "unix://" + socket, "--log-level", "Trace", .. _store.StoreFlags]);
        Assert.That(daemon.WaitForErrorLine("serving"), Is.True, string.Join('\n', daemon.ErrorLines));
        string remote = "grpc+unix://" + socket;

        string localMountPoint = _store.NewMountPoint();
        TvixlowfsProcess local = _store.Mount(localMountPoint, ["--log-level", "Trace", .. _store.StoreFlags]);
        string remoteMountPoint = _store.NewMountPoint();
        TvixlowfsProcess overDaemon = _store.Mount(remoteMountPoint, ["--log-level", "Trace",
            "--blob-service-addr", remote, "--directory-service-addr", remote, "--path-info-service-addr", remote,
            "--cache-dir", Path.Combine(_store.Root, "trace-cache")]);

        Assert.That(File.ReadAllText(Path.Combine(localMountPoint, _secretFile)), Does.StartWith(Secret));
        Assert.That(File.ReadAllText(Path.Combine(remoteMountPoint, _secretFile)), Does.StartWith(Secret));
        foreach (TvixlowfsProcess process in new[] { local, overDaemon, daemon })
        {
            process.Signal(Libc.SIGTERM);
            Assert.That(process.WaitForExit(60), Is.True);
        }
        Assert.That(local.ErrorLines.Length + overDaemon.ErrorLines.Length + daemon.ErrorLines.Length, Is.GreaterThan(5), "Trace logs something");
        foreach ((string name, TvixlowfsProcess process) in new[] { ("mount", local), ("mount over the daemon", overDaemon), ("daemon", daemon) })
            Assert.That(process.ErrorLines.Where(line => line.Contains("SECRET-CONTENT", StringComparison.Ordinal)), Is.Empty, name);
    }
}
