using System.Security.Cryptography;
using NUnit.Framework;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Tests.Model;

[TestFixture]
public sealed class NixStorePathBuilderTests
{
    [Test]
    public void ToFileFooBar_GivesTheKnownStorePath()
    {
        // builtins.toFile "foo" "bar" (shared/PROTOCOL.md).
        var path = NixStorePathBuilder.ForText(SHA256.HashData("bar"u8), "foo");
        Assert.That(path.AbsolutePath, Is.EqualTo("/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo"));
    }

    [Test]
    public void ForSource_HashesTheSourceFingerprint()
    {
        byte[] narSha256 = SHA256.HashData("some nar"u8);
        var path = NixStorePathBuilder.ForSource(narSha256, "protos");
        string fingerprint = $"source:sha256:{Convert.ToHexStringLower(narSha256)}:/nix/store:protos";
        byte[] digest = SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(fingerprint));
        var folded = new byte[20];
        for (int i = 0; i < 32; i++)
            folded[i % 20] ^= digest[i];
        Assert.That(path.Hash.ToArray(), Is.EqualTo(folded));
        Assert.That(path.Name, Is.EqualTo("protos"));
        Assert.That(path, Is.Not.EqualTo(NixStorePathBuilder.ForText(narSha256, "protos")));
    }

    [Test]
    public void Fold_XorsTheTailOntoTheHead()
    {
        byte[] digest = new byte[32];
        digest[0] = 0x0F;
        digest[20] = 0xF0;
        digest[31] = 0x01;
        byte[] folded = NixStorePathBuilder.Fold(digest);
        Assert.That(folded[0], Is.EqualTo(0xFF));
        Assert.That(folded[11], Is.EqualTo(0x01));
        Assert.That(folded.Count(b => b != 0), Is.EqualTo(2));
    }

    [Test]
    public void InvalidName_IsRejected()
    {
        var error = Assert.Throws<FormatException>(() => NixStorePathBuilder.ForSource(new byte[32], "my file"));
        Assert.That(error!.Message, Does.Contain("my file"));
        Assert.Throws<FormatException>(() => NixStorePathBuilder.ForSource(new byte[32], ".hidden"));
        Assert.Throws<ArgumentException>(() => NixStorePathBuilder.ForSource(new byte[20], "ok"));
    }
}
