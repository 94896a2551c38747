using NUnit.Framework;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Store.Local;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Reliability;

/// <summary>
/// A <c>tvixlowfs mount</c> process over store data that breaks the rules: each hostile store
/// path gets EIO (ENOENT for a PathInfo naming another store path), the mount's stderr names the
/// digest at fault, nothing the hostile names point at is reachable, and the healthy store path
/// next to them keeps being served.
/// </summary>
[CancelAfter(300_000)]
public abstract class HostileDataMountTestsBase
{
    private protected HostileCatalogue Catalogue { get; private set; } = null!;
    private protected string Root { get; private set; } = null!;
    private protected TvixlowfsProcess MountProcess { get; private set; } = null!;
    private protected string MountPoint { get; private set; } = null!;

    private protected abstract bool WithLyingBlob { get; }

    /// <summary>Makes the store the catalogue describes available; returns the mount's store flags.</summary>
    private protected abstract Task<string[]> ProvideStoreAsync(string root);

    private protected virtual Task ReleaseStoreAsync() => Task.CompletedTask;

    [OneTimeSetUp]
    public async Task MountTheHostileStore()
    {
        Root = Path.Combine(Path.GetTempPath(), "tvixlowfs-hostile-mount-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Root);
        Catalogue = new HostileCatalogue(GetType().Name, WithLyingBlob);
        string[] storeFlags = await ProvideStoreAsync(Root);
        MountPoint = Path.Combine(Root, "mnt");
        System.IO.Directory.CreateDirectory(MountPoint);
        MountProcess = TvixlowfsProcess.Start(["mount", MountPoint, "--threads", "4", .. storeFlags]);
        Assert.That(MountProcess.WaitForErrorLine("mounted " + MountPoint), Is.True, string.Join('\n', MountProcess.ErrorLines));
    }

    [OneTimeTearDown]
    public async Task Unmount()
    {
        MountProcess?.Dispose();
        if (MountPoint is not null)
            InProcessMount.ForceUnmount(MountPoint);
        await ReleaseStoreAsync();
        if (Root is not null && System.IO.Directory.Exists(Root))
            System.IO.Directory.Delete(Root, recursive: true);
    }

    private string P(params string[] parts) => Path.Combine([MountPoint, .. parts]);

    private HostileCase Case(string name) => Catalogue.Cases.Single(c => c.Name == name);

    [TestCase("dot-dot")]
    [TestCase("dot")]
    [TestCase("slash")]
    [TestCase("absolute")]
    [TestCase("nul")]
    [TestCase("empty-name")]
    [TestCase("duplicate")]
    [TestCase("duplicate-across")]
    [TestCase("unsorted")]
    [TestCase("short-digest")]
    [TestCase("child-size")]
    [TestCase("nul-target")]
    [TestCase("wrong-directory-hash")]
    [TestCase("file-size")]
    [TestCase("name-mismatch")]
    public void AHostileStorePathIsRefusedAndTheMountKeepsServing(string name) => Probe(Case(name));

    private protected void Probe(HostileCase hostile)
    {
        int mark = MountProcess.ErrorLineCount;
        string path = P(hostile.Basename);
        switch (hostile.Probe)
        {
            case HostileProbe.ListDirectory:
                // Twice: a refused Directory is not remembered as good.
                Assert.That(Libc.ListDirectory(path).Errno, Is.EqualTo(Libc.EIO), "readdir");
                Assert.That(Libc.ListDirectory(path).Errno, Is.EqualTo(Libc.EIO), "readdir again");
                foreach (string child in new[] { "f", "sub", "etc", "passwd", "l", "asked" })
                    Assert.That(Libc.LStat(P(hostile.Basename, child), out _), Is.EqualTo(Libc.EIO), "lookup " + child);
                break;
            case HostileProbe.OpenFile:
                Assert.That(Libc.LStat(P(hostile.Basename, "f"), out _), Is.Zero, "the node itself is fine");
                Assert.That(Libc.Open(P(hostile.Basename, "f"), Libc.O_RDONLY).Errno, Is.EqualTo(Libc.EIO), "open");
                Assert.That(Libc.Open(P(hostile.Basename, "f"), Libc.O_RDONLY).Errno, Is.EqualTo(Libc.EIO), "open again");
                break;
            case HostileProbe.ListChild:
                Assert.That(Libc.ListDirectory(P(hostile.Basename, "sub")).Errno, Is.EqualTo(Libc.EIO), "readdir of the child");
                Assert.That(Libc.LStat(P(hostile.Basename, "sub", "f"), out _), Is.EqualTo(Libc.EIO), "lookup below the child");
                break;
            case HostileProbe.LookupMissing:
                Assert.That(Libc.LStat(path, out _), Is.EqualTo(Libc.ENOENT), "lookup");
                string other = hostile.Basename[..32] + "-other-name";
                Assert.That(Libc.LStat(P(other), out _), Is.Zero, "the name the node carries is what resolves");
                break;
        }
        if (hostile.WarnedDigest is { } digest)
        {
            // Only lines printed during this probe count: an earlier case's warning proves nothing here.
            bool warned = MountProcess.WaitForErrorLineAfter(mark, line => line.Contains(digest, StringComparison.Ordinal)
                || (hostile.OrWarnedDigest is { } other && line.Contains(other, StringComparison.Ordinal)), 30);
            Assert.That(warned, Is.True, $"a warning naming {digest} on the mount's stderr during this probe:\n"
                + string.Join('\n', MountProcess.ErrorLinesAfter(mark)));
        }
        AssertStillServing();
    }

    private protected void AssertStillServing()
    {
        Assert.That(MountProcess.HasExited, Is.False, "the mount process is alive");
        Assert.That(File.ReadAllBytes(P(Catalogue.GoodBasename, "f")), Is.EqualTo(HostileCatalogue.GoodContent));
        Assert.That(File.ReadAllBytes(P(Catalogue.GoodBasename, "sub", "f")), Is.EqualTo(HostileCatalogue.GoodContent));
        Assert.That(Libc.ListDirectory(P(Catalogue.GoodBasename)).Names, Is.EqualTo(new[] { ".", "..", "f", "sub" }));
    }

    /// <summary>
    /// A hostile file node claiming a wrong size for a blob must not change what a healthy node
    /// naming the same blob serves (inodes are shared by content, the claim is not).
    /// </summary>
    [Test]
    public void AWrongSizeClaimDoesNotPoisonAHealthyFileWithTheSameBlob()
    {
        HostileCase hostile = Case("file-size");
        Assert.That(Libc.LStat(P(hostile.Basename, "f"), out _), Is.Zero, "the hostile claim is looked up first");
        Assert.That(Libc.Open(P(hostile.Basename, "f"), Libc.O_RDONLY).Errno, Is.EqualTo(Libc.EIO));
        string healthy = P(Catalogue.TwelveBytesBasename, "f");
        Assert.That(Libc.LStat(healthy).Size, Is.EqualTo(HostileCatalogue.TwelveBytes.Length), "st_size of the healthy file");
        Assert.That(File.ReadAllBytes(healthy), Is.EqualTo(HostileCatalogue.TwelveBytes), "the healthy file reads");
    }

    [Test]
    public void DotDotInTheStoreNeverLeadsOutOfTheMount()
    {
        // The kernel resolves ".." itself; through a hostile store path it can only reach the mount's root.
        Stat viaDotDot = Libc.LStat(P(Catalogue.GoodBasename, "sub", "..", ".."));
        Assert.That(viaDotDot.Ino, Is.EqualTo(1UL), "the mount's root inode");
        Assert.That(Libc.LStat(P(Case("dot-dot").Basename, "..", "..", "etc", "passwd"), out _), Is.EqualTo(Libc.ENOENT),
            "/etc/passwd is not reachable above the mount root");
        foreach (HostileCase hostile in Catalogue.Cases.Where(c => c.Probe == HostileProbe.ListDirectory))
            Assert.That(Libc.ListDirectory(P(hostile.Basename)).Names, Has.None.Contains("/").And.None.EqualTo("passwd"), hostile.Name);
    }
}

/// <summary>Hostile objects written file by file into a local store (a damaged disk, a hostile writer).</summary>
[TestFixture]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class HostileLocalStoreMountTests : HostileDataMountTestsBase
{
    private protected override bool WithLyingBlob => false;

    private protected override Task<string[]> ProvideStoreAsync(string root)
    {
        string store = Path.Combine(root, "store");
        Catalogue.InstallInto(LocalStore.Open(store));
        string address = "local://" + store;
        return Task.FromResult<string[]>(["--blob-service-addr", address, "--directory-service-addr", address, "--path-info-service-addr", address]);
    }
}

/// <summary>Hostile objects served by a hostile daemon (through the read-through cache, as mount uses it by default).</summary>
[TestFixture]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class HostileDaemonMountTests : HostileDataMountTestsBase
{
    private HostileStoreDaemonDouble? _daemon;

    private protected override bool WithLyingBlob => true;

    private protected override async Task<string[]> ProvideStoreAsync(string root)
    {
        _daemon = await HostileStoreDaemonDouble.StartAsync(Catalogue);
        string address = _daemon.Address;
        return ["--blob-service-addr", address, "--directory-service-addr", address, "--path-info-service-addr", address,
            "--cache-dir", Path.Combine(root, "cache"), "--grpc-timeout", "5"];
    }

    private protected override async Task ReleaseStoreAsync()
    {
        if (_daemon is not null)
            await _daemon.DisposeAsync();
    }

    [Test]
    public void ABlobWhoseBytesDoNotHashToItsDigestIsRefusedAndNotCached()
    {
        HostileCase lying = Catalogue.Cases.Single(c => c.Name == "blob-hash");
        Probe(lying);
        string cached = Path.Combine(Root, "cache");
        var kept = System.IO.Directory.Exists(cached)
            ? System.IO.Directory.EnumerateFiles(cached, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) == Catalogue.LyingBlob.ToHex()).ToList()
            : [];
        Assert.That(kept, Is.Empty, "the lying blob is not in the cache under its digest");
    }
}
