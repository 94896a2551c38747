using System.Security.Cryptography;
using System.Text;
using NUnit.Framework;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Model.BinaryCache;
using StorePath = TvixLowFs.Store.Model.StorePath;

namespace TvixLowFs.Tests.BinaryCache.Model;

/// <summary>
/// The content-address constructions against paths real Nix 2.8 printed (values recorded from
/// <c>nix-store --add-fixed</c> and <c>builtins.toFile</c>; RealNixCacheTests checks the same live).
/// </summary>
[TestFixture]
public sealed class ContentAddressPathTests
{
    private static readonly byte[] FlatContents = "flat content\n"u8.ToArray();

    [Test]
    public void AddFixedSha256_IsTheOutputOutConstruction() =>
        Assert.That(NixStorePathBuilder.ForFixedOutput(false, "sha256", SHA256.HashData(FlatContents), "flat.bin").AbsolutePath,
            Is.EqualTo("/nix/store/ad6flqddd5qfsdxqj4nq9fqvlymaz4f8-flat.bin"));

    [Test]
    public void AddFixedSha1_IsTheOutputOutConstruction() =>
        Assert.That(NixStorePathBuilder.ForFixedOutput(false, "sha1", SHA1.HashData(FlatContents), "flat.bin").AbsolutePath,
            Is.EqualTo("/nix/store/d064iq7c1vw55vq829qm34is9akki5p6-flat.bin"));

    [Test]
    public void ToFileWithAReference_PutsTheReferenceIntoTheType()
    {
        var dep = StorePath.ParseAbsolute("/nix/store/7hdk8qb9nscfnjpv2h2fgsjia36908lr-dep.txt");
        Assert.That(NixStorePathBuilder.ForText(SHA256.HashData("dependency\n"u8), "dep.txt"), Is.EqualTo(dep));
        byte[] contents = Encoding.ASCII.GetBytes($"I point at {dep.AbsolutePath}\n");
        Assert.That(NixStorePathBuilder.ForText(SHA256.HashData(contents), "withref.txt", [dep]).AbsolutePath,
            Is.EqualTo("/nix/store/3k500scjz6z4m5fs7dq9vg5rjz0c2d1q-withref.txt"));
        Assert.That(NixStorePathBuilder.ForText(SHA256.HashData(contents), "withref.txt", []).AbsolutePath,
            Is.Not.EqualTo("/nix/store/3k500scjz6z4m5fs7dq9vg5rjz0c2d1q-withref.txt"));
    }

    [Test]
    public void ForSource_WithoutReferences_IsTheOldConstruction()
    {
        byte[] nar = SHA256.HashData("a nar"u8);
        Assert.That(NixStorePathBuilder.ForSource(nar, "x", [], false), Is.EqualTo(NixStorePathBuilder.ForSource(nar, "x")));
        Assert.That(NixStorePathBuilder.ForSource(nar, "x", [], true), Is.Not.EqualTo(NixStorePathBuilder.ForSource(nar, "x")));
    }

    [Test]
    public void ReferenceOrder_IsNixsSetOrder_NotTheCallers()
    {
        byte[] hash = SHA256.HashData("t"u8);
        var a = StorePath.ParseBasename("00bgd045z0d4icpbc2yyz4gx48ak44la-a");
        var b = StorePath.ParseBasename("0c5b8vw40dy178xlpddw65q9gf1h2186-b");
        Assert.That(NixStorePathBuilder.ForText(hash, "t", [b, a]), Is.EqualTo(NixStorePathBuilder.ForText(hash, "t", [a, b])));
        Assert.That(NixStorePathBuilder.ForText(hash, "t", [a, a, b]), Is.EqualTo(NixStorePathBuilder.ForText(hash, "t", [a, b])));
    }

    [Test]
    public void RecursiveSha256_IsNotAnOutputOutPath() =>
        Assert.Throws<ArgumentException>(() => NixStorePathBuilder.ForFixedOutput(true, "sha256", new byte[32], "x"));

    [Test]
    public void FlatCaWithReferences_ProvesNothing()
    {
        // Nix asserts a flat path has no references; a narinfo claiming some cannot prove itself
        var ca = new NixContentAddress(ContentAddressMethod.Flat, "sha256", SHA256.HashData(FlatContents));
        Assert.That(ca.StorePathFor("flat.bin", [], null)!.AbsolutePath, Is.EqualTo("/nix/store/ad6flqddd5qfsdxqj4nq9fqvlymaz4f8-flat.bin"));
        Assert.That(ca.StorePathFor("flat.bin", [StorePath.ParseBasename("00bgd045z0d4icpbc2yyz4gx48ak44la-a")], null), Is.Null);
    }

    [Test]
    public void ContentAddressText_ParsesEveryEncoding_AndPrintsNixsForm()
    {
        byte[] hash = SHA256.HashData(FlatContents);
        var expected = new NixContentAddress(ContentAddressMethod.Flat, "sha256", hash);
        Assert.That(NixContentAddress.Parse("fixed:sha256:" + Convert.ToHexStringLower(hash)), Is.EqualTo(expected));
        Assert.That(NixContentAddress.Parse("fixed:sha256:" + Convert.ToBase64String(hash)), Is.EqualTo(expected));
        Assert.That(NixContentAddress.Parse("fixed:sha256:" + NixBase32.Encode(hash)), Is.EqualTo(expected));
        Assert.That(expected.ToString(), Is.EqualTo("fixed:sha256:0hxx6wyswf9fj3z81yr0810i8k5lx3jbp4xw8ipwamswn1smxkr9"));
        Assert.That(NixContentAddress.FromProto(expected.ToProto()), Is.EqualTo(expected));
    }
}
