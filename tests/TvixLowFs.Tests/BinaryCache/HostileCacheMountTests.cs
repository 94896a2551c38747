using NUnit.Framework;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// Issue 12 point 8 through the binary: a mount over a copy of a real cache with one thing wrong
/// about one store path (see <see cref="HostileNixCache"/>). That lookup gets ENOENT or EIO, the
/// mount writes one warning line naming the store path and why, registers nothing (no file named
/// by its hash in the store or the cache directory, and a later mount of the same store and cache
/// directory over the correct cache fetches it and serves it), and keeps serving the valid paths.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class HostileCacheMountTests : BinaryCacheMountTestBase
{
    private static IEnumerable<string> HostileCases => HostileNixCache.Names;

    [TestCaseSource(nameof(HostileCases))]
    [CancelAfter(180_000)]
    public void TheHostilePathIsRefusedWithOneWarningAndNothingRegistered(string name)
    {
        HostileNixCache hostile = HostileNixCache.Named(name);
        string target = hostile.Target(Nix);
        StaticHttpServer server = Serve(hostile.Make(Nix));
        string store = NewDirectory("store"), cache = NewDirectory("cache");
        var mount = Mount(NixBinaryCacheFixture.NixHttpAddress(server, Nix.PublicKey), store, cache);

        int errno = -1;
        Bounded("the lookup of " + target, 120, () => errno = Libc.LStat(Path.Combine(mount.MountPoint, target), out _));
        Assert.That(errno, Is.EqualTo(Libc.ENOENT).Or.EqualTo(Libc.EIO), $"lookup of {target}:\n" + string.Join('\n', mount.Process.ErrorLines));
        mount.Process.WaitForErrorLine(NixBinaryCacheFixture.HashOf(target), 10);
        string[] warnings = LinesNaming(mount.Process, target);
        Assert.That(warnings, Has.Length.EqualTo(1), "one warning line naming the store path:\n" + string.Join('\n', mount.Process.ErrorLines));
        if (hostile.ReasonWords.Length > 0)
            Assert.That(hostile.ReasonWords.Any(word => warnings[0].Contains(word, StringComparison.OrdinalIgnoreCase)), Is.True,
                $"the warning says why (one of {string.Join(", ", hostile.ReasonWords)}): {warnings[0]}");
        Assert.That(warnings[0].Length, Is.GreaterThan(target.Length + 10), "the warning says more than the name: " + warnings[0]);

        // The mount keeps serving everything else the cache holds.
        string other = hostile.TargetsOutput ? Nix.TreeBasename : Nix.SingleFileBasename;
        Bounded("reading " + other, 120, () =>
        {
            MountedStorePath.AssertEqualToNix(Nix.OnDisk(other), Path.Combine(mount.MountPoint, other));
            MountedStorePath.AssertEqualToNix(Nix.OnDisk(Nix.SingleFileBasename), Path.Combine(mount.MountPoint, Nix.SingleFileBasename));
        });
        Assert.That(mount.Process.HasExited, Is.False, "the mount is alive");
        Unmount(mount);
        Assert.That(FilesNamedByHash(target, store, cache), Is.Empty, "nothing registered for " + target);

        // Nothing was remembered as good: over the correct cache, a new mount fetches and serves it.
        StaticHttpServer correct = Serve(Nix.Caches[hostile.Compression]);
        var later = Mount(NixBinaryCacheFixture.NixHttpAddress(correct, Nix.PublicKey), store, cache);
        Bounded("reading " + target + " from the correct cache", 120,
            () => MountedStorePath.AssertEqualToNix(Nix.OnDisk(target), Path.Combine(later.MountPoint, target)));
        Assert.That(correct.CountOf("/" + NixBinaryCacheFixture.HashOf(target) + ".narinfo"), Is.EqualTo(1), correct.Log);
    }
}
