using NUnit.Framework;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// Signatures through the mount: under a key that did not sign, the input-addressed output is
/// absent with one warning line, while the content-addressed paths that prove their own store
/// path are still served (Nix's rule, as the README says); with several keys (<c>%20</c> or
/// <c>+</c>) one good signature is enough.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class UntrustedCacheMountTests : BinaryCacheMountTestBase
{
    [Test]
    [CancelAfter(120_000)]
    public void UnderAKeyThatDidNotSignTheOutputIsAbsentAndContentAddressedPathsAreServed()
    {
        StaticHttpServer server = Serve(Nix.Caches["xz"]);
        string store = NewDirectory("store"), cache = NewDirectory("cache");
        (TvixlowfsProcess mount, string mountPoint) = Mount(NixBinaryCacheFixture.NixHttpAddress(server, Nix.UntrustedPublicKey), store, cache);

        int errno = -1;
        Bounded("the lookup of the output", 60, () => errno = Libc.LStat(Path.Combine(mountPoint, Nix.OutputBasename), out _));
        Assert.That(errno, Is.EqualTo(Libc.ENOENT), string.Join('\n', mount.ErrorLines));
        mount.WaitForErrorLine(NixBinaryCacheFixture.HashOf(Nix.OutputBasename), 10);
        string[] warnings = LinesNaming(mount, Nix.OutputBasename);
        Assert.That(warnings, Has.Length.EqualTo(1), "one warning line:\n" + string.Join('\n', mount.ErrorLines));
        Assert.That(warnings[0], Does.Contain("signature").IgnoreCase, "it says why");
        Assert.That(FilesNamedByHash(Nix.OutputBasename, store, cache), Is.Empty, "nothing registered");

        Bounded("reading the content-addressed paths", 120, () =>
        {
            MountedStorePath.AssertEqualToNix(Nix.OnDisk(Nix.TreeBasename), Path.Combine(mountPoint, Nix.TreeBasename));
            MountedStorePath.AssertEqualToNix(Nix.OnDisk(Nix.SingleFileBasename), Path.Combine(mountPoint, Nix.SingleFileBasename));
        });
        Assert.That(LinesNaming(mount, Nix.TreeBasename), Is.Empty, "a content-addressed path needs no signature: no warning");
    }

    [TestCase("%20")]
    [TestCase("+")]
    [CancelAfter(120_000)]
    public void OneTrustedKeyAmongSeveralIsEnough(string separator)
    {
        StaticHttpServer server = Serve(Nix.Caches["zstd"]);
        string address = $"nix+{server.BaseUrl}?trusted-public-keys=" +
            NixBinaryCacheFixture.EscapeQueryValue(Nix.UntrustedPublicKey) + separator + NixBinaryCacheFixture.EscapeQueryValue(Nix.PublicKey);
        (TvixlowfsProcess mount, string mountPoint) = Mount(address, NewDirectory("store"), NewDirectory("cache"));
        Bounded("reading the output", 60, () => MountedStorePath.AssertEqualToNix(Nix.OnDisk(Nix.OutputBasename), Path.Combine(mountPoint, Nix.OutputBasename)));
        Assert.That(LinesNaming(mount, Nix.OutputBasename), Is.Empty, "no warning:\n" + string.Join('\n', mount.ErrorLines));
    }
}
