using NUnit.Framework;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// <c>tvixlowfs mount</c> with <c>--path-info-service-addr nix+http://…</c> over caches real Nix
/// wrote, served by python's static server, exactly as a runner would use it: every path of every
/// compression is served as Nix stores it (bytes, modes, symlinks, NarHash by <c>nix-hash</c>,
/// store timestamps), a second process makes no request, concurrent lookups share one download.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class NixHttpMountTests : BinaryCacheMountTestBase
{
    private static IEnumerable<string> Compressions => NixBinaryCacheFixture.Compressions;

    private static string NarInfoPath(string basename) => "/" + NixBinaryCacheFixture.HashOf(basename) + ".narinfo";

    [TestCaseSource(nameof(Compressions))]
    [CancelAfter(240_000)]
    public void EveryPathIsServedExactlyAsNixStoresIt(string compression)
    {
        StaticHttpServer server = Serve(Nix.Caches[compression]);
        (TvixlowfsProcess mount, string mountPoint) = Mount(NixBinaryCacheFixture.NixHttpAddress(server, Nix.PublicKey),
            NewDirectory("store"), NewDirectory("cache"));
        MountedStorePath.AssertInodeTimes(mountPoint);
        foreach (string basename in Nix.AllBasenames)
        {
            string mounted = Path.Combine(mountPoint, basename);
            Bounded("reading " + basename, 120, () =>
            {
                Assert.That(Libc.LStat(mounted, out _), Is.Zero, $"lookup of {basename}:\n" + string.Join('\n', mount.ErrorLines));
                MountedStorePath.AssertEqualToNix(Nix.OnDisk(basename), mounted);
                MountedStorePath.AssertStoreTimes(mounted);
            });
            string narHash = Nix.RealNix.Check("nix-hash", "--type", "sha256", "--base32", mounted).Trim();
            Assert.That(narHash, Is.EqualTo(Nix.NarInfo(compression, basename).NarHashBase32), "nix-hash of the mounted " + basename);
            Assert.That(server.CountOf(NarInfoPath(basename)), Is.EqualTo(1), "one narinfo request:\n" + server.Log);
            Assert.That(server.CountOf("/" + Nix.NarInfo(compression, basename)["URL"]), Is.EqualTo(1), "one NAR request:\n" + server.Log);
        }
        Assert.That(mount.HasExited, Is.False);
    }

    [Test]
    [CancelAfter(240_000)]
    public void ASecondMountProcessOfTheSameStoreMakesNoRequest()
    {
        StaticHttpServer server = Serve(Nix.Caches["xz"]);
        string address = NixBinaryCacheFixture.NixHttpAddress(server, Nix.PublicKey);
        string store = NewDirectory("store"), cache = NewDirectory("cache");
        var first = Mount(address, store, cache);
        Bounded("reading through the first mount", 120, () =>
        {
            foreach (string basename in Nix.AllBasenames)
                MountedStorePath.AssertEqualToNix(Nix.OnDisk(basename), Path.Combine(first.MountPoint, basename));
        });
        Unmount(first);
        int requests = server.RequestCount;
        Assert.That(requests, Is.GreaterThanOrEqualTo(6), "the first mount fetched three narinfos and three NARs:\n" + server.Log);

        var second = Mount(address, store, cache);
        Bounded("reading through the second mount", 120, () =>
        {
            foreach (string basename in Nix.AllBasenames)
                MountedStorePath.AssertEqualToNix(Nix.OnDisk(basename), Path.Combine(second.MountPoint, basename));
        });
        Assert.That(server.RequestCount, Is.EqualTo(requests), "the second process asked the cache for nothing:\n" + server.Log);
    }

    [Test]
    [CancelAfter(120_000)]
    public void ConcurrentLookupsOfOneStorePathShareOneDownload()
    {
        StaticHttpServer server = Serve(Nix.Caches["zstd"]);
        (TvixlowfsProcess mount, string mountPoint) = Mount(NixBinaryCacheFixture.NixHttpAddress(server, Nix.PublicKey),
            NewDirectory("store"), NewDirectory("cache"), "--threads", "8");
        // The kernel folds concurrent lookups of one name in one directory into one, so the threads
        // look up different names with the same hash: each needs the PathInfo, only one name resolves.
        string hash = NixBinaryCacheFixture.HashOf(Nix.TreeBasename);
        string[] names = [.. Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? Nix.TreeBasename : $"{hash}-wrong-name-{i}")];
        using var start = new Barrier(names.Length);
        int[] results = new int[names.Length];
        Task[] lookups = [.. names.Select((name, i) => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait(TimeSpan.FromSeconds(30));
            results[i] = Libc.LStat(Path.Combine(mountPoint, name), out _);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))];
        Assert.That(Task.WaitAll(lookups, TimeSpan.FromSeconds(90)), Is.True, "every lookup returns");
        for (int i = 0; i < names.Length; i++)
            Assert.That(results[i], Is.EqualTo(i % 2 == 0 ? 0 : Libc.ENOENT), names[i] + ":\n" + string.Join('\n', mount.ErrorLines));
        Assert.That(server.CountOf(NarInfoPath(Nix.TreeBasename)), Is.EqualTo(1), "one narinfo request:\n" + server.Log);
        Assert.That(server.CountOf("/" + Nix.NarInfo("zstd", Nix.TreeBasename)["URL"]), Is.EqualTo(1), "one NAR request:\n" + server.Log);
        Bounded("reading the tree", 60, () => MountedStorePath.AssertEqualToNix(Nix.OnDisk(Nix.TreeBasename), Path.Combine(mountPoint, Nix.TreeBasename)));
    }

    [Test]
    [CancelAfter(120_000)]
    public void APathTheCacheDoesNotHaveIsAbsentAndTheMountKeepsServing()
    {
        StaticHttpServer server = Serve(Nix.Caches["xz"]);
        (TvixlowfsProcess mount, string mountPoint) = Mount(NixBinaryCacheFixture.NixHttpAddress(server, Nix.PublicKey),
            NewDirectory("store"), NewDirectory("cache"));
        const string absent = "0123456789abcdfghijklmnpqrsvwxyz-not-in-the-cache";
        int errno = -1;
        Bounded("the lookup of an absent path", 60, () => errno = Libc.LStat(Path.Combine(mountPoint, absent), out _));
        Assert.That(errno, Is.EqualTo(Libc.ENOENT), string.Join('\n', mount.ErrorLines));
        Assert.That(server.CountOf("/" + NixBinaryCacheFixture.HashOf(absent) + ".narinfo", atLeast: 1), Is.EqualTo(1), server.Log);
        Bounded("reading the single file", 60, () => Assert.That(File.ReadAllBytes(Path.Combine(mountPoint, Nix.SingleFileBasename)),
            Is.EqualTo(NixBinaryCacheFixture.SingleFileContent.ToArray())));
        Assert.That(mount.HasExited, Is.False);
    }

    [Test]
    [CancelAfter(120_000)]
    public void WithoutTrustedKeysSignaturesAreNotRequired()
    {
        // README: with no trusted-public-keys, signatures are kept but not required.
        StaticHttpServer server = Serve(Nix.Caches["bzip2"]);
        (_, string mountPoint) = Mount(NixBinaryCacheFixture.NixHttpAddress(server), NewDirectory("store"), NewDirectory("cache"));
        Bounded("reading the output", 60, () => MountedStorePath.AssertEqualToNix(Nix.OnDisk(Nix.OutputBasename), Path.Combine(mountPoint, Nix.OutputBasename)));
    }

    /// <summary>
    /// The baseline the nix+http tests build on, with no cache involved: <c>tvixlowfs import</c> of
    /// the source tree names the store path <c>nix-store --add</c> named, and the mount serves it as
    /// Nix stores it, with the NarHash <c>nix-hash</c> computes equal to the narinfo's.
    /// </summary>
    [Test]
    [CancelAfter(120_000)]
    public void AnImportOfTheSourceTreeIsTheStorePathNixAddedAndMountsAsNixStoresIt()
    {
        string store = NewDirectory("store");
        var import = TvixlowfsProcess.Run(["import", Nix.SourceTree, .. LocalStoreFlags(store)]);
        Assert.That(import.ExitCode, Is.Zero, string.Join('\n', import.Error));
        Assert.That(import.Out, Is.EqualTo(new[] { "/nix/store/" + Nix.TreeBasename }));
        (_, string mountPoint) = MountWith([.. LocalStoreFlags(store), "--cache-dir", NewDirectory("cache")]);
        string mounted = Path.Combine(mountPoint, Nix.TreeBasename);
        Bounded("reading the imported tree", 60, () => MountedStorePath.AssertEqualToNix(Nix.OnDisk(Nix.TreeBasename), mounted));
        Assert.That(Nix.RealNix.Check("nix-hash", "--type", "sha256", "--base32", mounted).Trim(), Is.EqualTo(Nix.NarInfo("xz", Nix.TreeBasename).NarHashBase32));
    }

    /// <summary>Issue 12 point 6 for every store path, however it got into the store: mtime 1 s, atime and ctime no later.</summary>
    [Test]
    [CancelAfter(120_000)]
    public void EveryInodeOfAnImportedPathHasTheTimesOfARealStore()
    {
        string store = NewDirectory("store");
        var import = TvixlowfsProcess.Run(["import", Nix.SourceTree, .. LocalStoreFlags(store)]);
        Assert.That(import.ExitCode, Is.Zero, string.Join('\n', import.Error));
        (_, string mountPoint) = MountWith([.. LocalStoreFlags(store), "--cache-dir", NewDirectory("cache")]);
        Bounded("stat of every inode", 60, () =>
        {
            MountedStorePath.AssertInodeTimes(mountPoint);
            MountedStorePath.AssertStoreTimes(Path.Combine(mountPoint, Nix.TreeBasename));
        });
    }
}
