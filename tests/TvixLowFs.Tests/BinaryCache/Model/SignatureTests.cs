using System.Text;
using NUnit.Framework;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Model.BinaryCache;

namespace TvixLowFs.Tests.BinaryCache.Model;

/// <summary>Nix's key and signature texts, libsodium's Ed25519, and the trust verdicts.</summary>
[TestFixture]
public sealed class SignatureTests
{
    // Made by `nix-store --generate-binary-cache-key stranger-1 sk pk` (Nix 2.8).
    private const string NixPublic = "stranger-1:ceWsn6zeuuDASrDazhNWY0v2KLhPpxosu8vfTvJNXRI=";

    [Test]
    public void Libsodium_HasTheSizesNixAssumes()
    {
        Assert.That(Ed25519.LibrarySizes, Is.EqualTo((64, 32, 64)));
        Assert.That(Ed25519.Version, Does.Match(@"^1\.\d+\.\d+"));
    }

    [Test]
    public void SecretKeyFromNix_GivesNixsPublicKey()
    {
        var secretKey = NixSecretKey.Parse(RealNixCacheTests.StrangerSecretKey);
        Assert.That(secretKey.Name, Is.EqualTo("stranger-1"));
        Assert.That(secretKey.PublicKey.ToString(), Is.EqualTo(NixPublic));
        Assert.That(secretKey.ToString(), Does.Not.Contain("9ALT"), "the secret never goes into text");
    }

    [Test]
    public void SignThenVerify_HoldsOnlyForTheSameFingerprintAndKeyName()
    {
        var secretKey = NixSecretKey.Parse(RealNixCacheTests.StrangerSecretKey);
        var publicKey = NixPublicKey.Parse(NixPublic);
        const string fingerprint = "1;/nix/store/lp8nmnbkyv6z6fhl5izaq4l1v6z2qq1x-hello.txt;sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n;128;";
        var signature = secretKey.Sign(fingerprint);
        Assert.That(signature.KeyName, Is.EqualTo("stranger-1"));
        Assert.That(signature.Bytes, Has.Length.EqualTo(64));
        Assert.That(publicKey.Verifies(fingerprint, signature), Is.True);
        Assert.That(publicKey.Verifies(fingerprint.Replace(";128;", ";129;", StringComparison.Ordinal), signature), Is.False);
        Assert.That(publicKey.Verifies(fingerprint, signature with { KeyName = "someone-else" }), Is.False);
        byte[] flipped = (byte[])signature.Bytes.Clone();
        flipped[10] ^= 0x20;
        Assert.That(publicKey.Verifies(fingerprint, signature with { Bytes = flipped }), Is.False);
        // a long fingerprint (many references) goes through the heap buffer
        string longFingerprint = fingerprint + string.Join(",", Enumerable.Repeat("/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-x", 100));
        Assert.That(publicKey.Verifies(longFingerprint, secretKey.Sign(longFingerprint)), Is.True);
    }

    [Test]
    public void NarSignature_RoundTripsItsText()
    {
        string text = "cache.nixos.org-1:" + Convert.ToBase64String(Enumerable.Range(0, 64).Select(i => (byte)i).ToArray());
        var signature = NarSignature.Parse(text);
        Assert.That(signature.KeyName, Is.EqualTo("cache.nixos.org-1"));
        Assert.That(signature.ToString(), Is.EqualTo(text));
        Assert.That(NarSignature.Parse(text), Is.EqualTo(signature), "equality compares the bytes");
        // without padding, as Nix's decoder allows
        Assert.That(NarSignature.Parse(text.TrimEnd('=')), Is.EqualTo(signature));
    }

    [TestCase("no-colon", "is not name:base64")]
    [TestCase(":AAAA", "has an empty key name")]
    [TestCase("k:AA AA", "is not valid base64")]
    public void NarSignature_Malformed_IsAStoreValidationError(string text, string why) =>
        Assert.That(Assert.Throws<StoreValidationException>(() => NarSignature.Parse(text))!.Message, Does.EndWith(why));

    [TestCase("no-colon", "is not name:base64")]
    [TestCase(":ceWsn6zeuuDASrDazhNWY0v2KLhPpxosu8vfTvJNXRI=", "has an empty name")]
    [TestCase("k:", "has no key after the colon")]
    [TestCase("k:!!!!", "is not valid base64")]
    [TestCase("k:AAAA", "is 3 bytes, an Ed25519 public key is 32")]
    public void PublicKey_Malformed_IsAFormatErrorNamingTheProblem(string text, string why) =>
        Assert.That(Assert.Throws<FormatException>(() => NixPublicKey.Parse(text))!.Message, Does.EndWith(why));

    [Test]
    public void SecretKey_Malformed_NeverShowsTheKey()
    {
        var error = Assert.Throws<FormatException>(() => NixSecretKey.Parse(NixPublic)); // 32 bytes, not 64
        Assert.That(error!.Message, Does.Contain("is 32 bytes, an Ed25519 secret key is 64"));
        Assert.That(error.Message, Does.Not.Contain("ceWsn"));
    }

    [Test]
    public void SecretKeyFile_WithATrailingNewline_Loads()
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, RealNixCacheTests.StrangerSecretKey + "\n");
            Assert.That(NixSecretKey.Load(file).PublicKey.ToString(), Is.EqualTo(NixPublic));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void PublicKey_WithItsFilesTrailingNewline_Parses() =>
        Assert.That(NixPublicKey.Parse(NixPublic + "\n").ToString(), Is.EqualTo(NixPublic));

    [Test]
    public void PublicKeyList_IsSplitOnSpaces()
    {
        string other = NixSecretKey.Parse(RealNixCacheTests.StrangerSecretKey).PublicKey.ToString().Replace("stranger-1", "cache.example.org-2", StringComparison.Ordinal);
        var keys = NixPublicKey.ParseList($"  {NixPublic}  {other} ");
        Assert.That(keys.Select(k => k.Name), Is.EqualTo(new[] { "stranger-1", "cache.example.org-2" }));
        Assert.That(keys[0].Key.ToArray(), Has.Length.EqualTo(32));
        Assert.That(NixPublicKey.ParseList(""), Is.Empty);
        Assert.Throws<FormatException>(() => NixPublicKey.ParseList(NixPublic + " broken"));
    }

    [Test]
    public void Trust_FollowsTheVerdictsInOrder()
    {
        var secretKey = NixSecretKey.Parse(RealNixCacheTests.StrangerSecretKey);
        var ca = NarInfo.Parse(Encoding.UTF8.GetBytes(NarInfoParseTests.Example), NarInfoParseTests.ExamplePath.Hash);
        var signedCa = Copy(ca, signatures: [secretKey.Sign(ca.Fingerprint())]);
        var unsignedInputAddressed = Copy(ca, contentAddress: null);
        var signedInputAddressed = Copy(unsignedInputAddressed, signatures: [secretKey.Sign(ca.Fingerprint())]);
        var wrongSignature = Copy(unsignedInputAddressed, signatures: [secretKey.Sign(ca.Fingerprint() + "x")]);
        NixPublicKey[] trusted = [secretKey.PublicKey];

        Assert.That(NarInfoTrust.Check(signedInputAddressed, []), Is.EqualTo(SignatureVerdict.NoTrustedKeysConfigured));
        Assert.That(NarInfoTrust.Check(unsignedInputAddressed, []), Is.EqualTo(SignatureVerdict.NoTrustedKeysConfigured));
        Assert.That(NarInfoTrust.Check(signedInputAddressed, trusted), Is.EqualTo(SignatureVerdict.TrustedSignature));
        Assert.That(NarInfoTrust.Check(signedCa, trusted), Is.EqualTo(SignatureVerdict.TrustedSignature));
        Assert.That(NarInfoTrust.Check(ca, trusted), Is.EqualTo(SignatureVerdict.ContentAddressed));
        Assert.That(NarInfoTrust.Check(unsignedInputAddressed, trusted), Is.EqualTo(SignatureVerdict.Untrusted));
        Assert.That(NarInfoTrust.Check(wrongSignature, trusted), Is.EqualTo(SignatureVerdict.Untrusted));
        var otherKeyOnly = NixPublicKey.ParseList("other-1:ceWsn6zeuuDASrDazhNWY0v2KLhPpxosu8vfTvJNXRI=");
        Assert.That(NarInfoTrust.Check(signedInputAddressed, otherKeyOnly), Is.EqualTo(SignatureVerdict.Untrusted), "same key bytes, another name");
    }

    private static NarInfo Copy(NarInfo from, IReadOnlyList<NarSignature>? signatures = null, string? contentAddress = "keep") => new()
    {
        StorePath = from.StorePath, Url = from.Url, Compression = from.Compression, FileHash = from.FileHash,
        FileSize = from.FileSize, NarHash = from.NarHash, NarSize = from.NarSize, References = from.References,
        Deriver = from.Deriver, System = from.System, Signatures = signatures ?? from.Signatures,
        ContentAddress = contentAddress == "keep" ? from.ContentAddress : contentAddress,
    };
}
