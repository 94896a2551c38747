using System.Text;
using NUnit.Framework;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Model.BinaryCache;
using StorePath = TvixLowFs.Store.Model.StorePath;

namespace TvixLowFs.Tests.BinaryCache.Model;

/// <summary>The narinfo parser: what Nix 2.8 accepts, and one test per rejection rule asserting its reason.</summary>
[TestFixture]
public sealed class NarInfoParseTests
{
    // The real narinfo of shared/PROTOCOL.md (xz, no references, content-addressed).
    internal const string Example =
        "StorePath: /nix/store/lp8nmnbkyv6z6fhl5izaq4l1v6z2qq1x-hello.txt\n" +
        "URL: nar/0d4fwkrnlkqbz3skg7hwxi1r9lldznyqjn2825qcl254cpn164qx.nar.xz\n" +
        "Compression: xz\n" +
        "FileHash: sha256:0d4fwkrnlkqbz3skg7hwxi1r9lldznyqjn2825qcl254cpn164qx\n" +
        "FileSize: 136\n" +
        "NarHash: sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n\n" +
        "NarSize: 128\n" +
        "References: \n" +
        "CA: fixed:r:sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n\n";

    internal static readonly StorePath ExamplePath = StorePath.ParseAbsolute("/nix/store/lp8nmnbkyv6z6fhl5izaq4l1v6z2qq1x-hello.txt");
    private const string ExampleNarSha256Hex = "f66863db64512bf540ecbe2b6d5869cef71509e6c0040508fcd35d47167fa961";
    private const string Reference1 = "00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60";
    private const string Reference2 = "0c5b8vw40dy178xlpddw65q9gf1h2186-dep";

    private static NarInfo Parse(string text) => NarInfo.Parse(Encoding.UTF8.GetBytes(text), ExamplePath.Hash);

    private static string Reason(string text) =>
        Assert.Throws<StoreValidationException>(() => Parse(text))!.Message;

    private static string Without(string line) => Example.Replace(line + "\n", "", StringComparison.Ordinal);
    private static string Replace(string line, string with) => Example.Replace(line + "\n", with + "\n", StringComparison.Ordinal);
    private static string With(string line) => Example + line + "\n";

    [Test]
    public void TheProtocolExample_ParsesIntoEveryField_AndFormatsBackExactly()
    {
        var narInfo = Parse(Example);
        Assert.That(narInfo.StorePath, Is.EqualTo(ExamplePath));
        Assert.That(narInfo.Url, Is.EqualTo("nar/0d4fwkrnlkqbz3skg7hwxi1r9lldznyqjn2825qcl254cpn164qx.nar.xz"));
        Assert.That(narInfo.Compression, Is.EqualTo("xz"));
        Assert.That(narInfo.FileHash, Is.EqualTo(NixBase32.Decode("0d4fwkrnlkqbz3skg7hwxi1r9lldznyqjn2825qcl254cpn164qx")));
        Assert.That(narInfo.FileSize, Is.EqualTo(136));
        Assert.That(Convert.ToHexStringLower(narInfo.NarHash), Is.EqualTo(ExampleNarSha256Hex));
        Assert.That(narInfo.NarSize, Is.EqualTo(128));
        Assert.That(narInfo.References, Is.Empty);
        Assert.That(narInfo.Deriver, Is.Null);
        Assert.That(narInfo.System, Is.Null);
        Assert.That(narInfo.Signatures, Is.Empty);
        Assert.That(narInfo.ContentAddress, Is.EqualTo("fixed:r:sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n"));
        Assert.That(narInfo.ContentAddressProvesStorePath(), Is.True);
        Assert.That(narInfo.Format(), Is.EqualTo(Example));
    }

    [Test]
    public void Fingerprint_IsNixsWithReferencesSortedAndAbsolute()
    {
        var narInfo = Parse(Replace("References: ", $"References: {Reference2} {Reference1}"));
        Assert.That(narInfo.References.Select(r => r.Basename), Is.EqualTo(new[] { Reference2, Reference1 }), "kept as written");
        Assert.That(narInfo.Fingerprint(), Is.EqualTo(
            "1;/nix/store/lp8nmnbkyv6z6fhl5izaq4l1v6z2qq1x-hello.txt;sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n;128;"
            + $"/nix/store/{Reference1},/nix/store/{Reference2}"));
        Assert.That(Parse(Example).Fingerprint(), Does.EndWith(";128;"));
    }

    // ---- accepted as Nix accepts it ----

    [Test]
    public void MissingCompression_IsBzip2()
    {
        Assert.That(Parse(Without("Compression: xz")).Compression, Is.EqualTo("bzip2"));
        Assert.That(Parse(Replace("Compression: xz", "Compression: ")).Compression, Is.EqualTo("bzip2"));
    }

    [Test]
    public void UnknownDeriver_IsNoDeriver()
    {
        Assert.That(Parse(With("Deriver: unknown-deriver")).Deriver, Is.Null);
        Assert.That(Parse(With($"Deriver: {Reference1}")).Deriver, Is.EqualTo(StorePath.ParseBasename(Reference1)));
    }

    [Test]
    public void UnknownFields_AreIgnored()
    {
        var narInfo = Parse(With("Future: something") + "Another-One: x: y\n" + ": no name\n");
        Assert.That(narInfo, Is.EqualTo(Parse(Example)));
    }

    [Test]
    public void ReferencesSeparatedBySeveralSpaces_AndARepeatedOne_GiveEachOnce()
    {
        var narInfo = Parse(Replace("References: ", $"References:  {Reference1}  {Reference2} {Reference1} "));
        Assert.That(narInfo.References.Select(r => r.Basename), Is.EqualTo(new[] { Reference1, Reference2 }));
    }

    [Test]
    public void NarHash_InBase16Base64AndSri_IsTheSameHash()
    {
        byte[] hash = Convert.FromHexString(ExampleNarSha256Hex);
        const string nixbase32 = "NarHash: sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n";
        Assert.That(Parse(Replace(nixbase32, "NarHash: sha256:" + ExampleNarSha256Hex)).NarHash, Is.EqualTo(hash));
        Assert.That(Parse(Replace(nixbase32, "NarHash: sha256:" + ExampleNarSha256Hex.ToUpperInvariant())).NarHash, Is.EqualTo(hash));
        Assert.That(Parse(Replace(nixbase32, "NarHash: sha256:" + Convert.ToBase64String(hash))).NarHash, Is.EqualTo(hash));
        Assert.That(Parse(Replace(nixbase32, "NarHash: sha256-" + Convert.ToBase64String(hash))).NarHash, Is.EqualTo(hash));
    }

    [Test]
    public void EmptyCa_IsNone_AndEmptySystemIsNone()
    {
        var narInfo = Parse(Replace("CA: fixed:r:sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n", "CA: ") + "System: \n");
        Assert.That(narInfo.ContentAddress, Is.Null);
        Assert.That(narInfo.System, Is.Null);
        Assert.That(Parse(With("System: x86_64-linux")).System, Is.EqualTo("x86_64-linux"));
    }

    [Test]
    public void AbsentFileHashAndFileSize_AreNull_AndLeftOutOfFormat()
    {
        var narInfo = Parse(Without("FileSize: 136").Replace("FileHash: sha256:0d4fwkrnlkqbz3skg7hwxi1r9lldznyqjn2825qcl254cpn164qx\n", "", StringComparison.Ordinal));
        Assert.That(narInfo.FileHash, Is.Null);
        Assert.That(narInfo.FileSize, Is.Null);
        Assert.That(narInfo.Format(), Does.Not.Contain("File"));
    }

    [Test]
    public void SeveralSigs_AreKeptInOrder()
    {
        string sig1 = "a-1:" + Convert.ToBase64String(new byte[64]);
        string sig2 = "b-1:" + Convert.ToBase64String(Enumerable.Repeat((byte)7, 64).ToArray());
        var narInfo = Parse(With("Sig: " + sig1) + "Sig: " + sig2 + "\n");
        Assert.That(narInfo.Signatures.Select(s => s.ToString()), Is.EqualTo(new[] { sig1, sig2 }));
    }

    // ---- one test per rejection rule ----

    [Test]
    public void Oversized_IsRejectedBeforeParsing()
    {
        // valid-looking up to the limit: the size alone decides
        string big = With("Padding: " + new string('x', NarInfo.MaxBytes));
        Assert.That(Reason(big), Does.StartWith("narinfo: it is ").And.Contain($"more than the {NarInfo.MaxBytes}"));
        Assert.That(Parse(With("Padding: " + new string('x', NarInfo.MaxBytes - Example.Length - 20))).StorePath, Is.EqualTo(ExamplePath));
    }

    [Test]
    public void NulByte_IsRejected() =>
        Assert.That(Reason(Example.Replace("xz\n", "x\0z\n", StringComparison.Ordinal)), Does.StartWith("narinfo: a NUL byte at offset"));

    [Test]
    public void InvalidUtf8_IsRejected()
    {
        // a UTF-8 lead byte with no continuation byte after it
        byte[] bytes = [.. Encoding.UTF8.GetBytes(Example), .. "System: "u8, 0xC3, (byte)'\n'];
        var error = Assert.Throws<StoreValidationException>(() => NarInfo.Parse(bytes, ExamplePath.Hash));
        Assert.That(error!.Message, Is.EqualTo("narinfo: it is not valid UTF-8"));
    }

    [Test]
    public void LineWithoutColonSpace_IsCorrupt()
    {
        Assert.That(Reason(With("NoColonHere")), Is.EqualTo("narinfo: line 10 is not \"Name: value\""));
        Assert.That(Reason(Replace("Compression: xz", "Compression:xz")), Is.EqualTo("narinfo: line 3 is not \"Name: value\""));
        Assert.That(Reason(Example + "\n"), Is.EqualTo("narinfo: line 10 is not \"Name: value\""));
    }

    [Test]
    public void LastLineWithoutNewline_IsCorrupt() =>
        Assert.That(Reason(Example + "System: x86_64-linux"), Is.EqualTo("narinfo: line 10 does not end with a newline"));

    [Test]
    public void MissingStorePath_IsCorrupt() =>
        Assert.That(Reason(Without("StorePath: /nix/store/lp8nmnbkyv6z6fhl5izaq4l1v6z2qq1x-hello.txt")), Is.EqualTo("narinfo: no StorePath line"));

    [Test]
    public void StorePathNotAnAbsoluteStorePath_IsCorrupt()
    {
        const string line = "StorePath: /nix/store/lp8nmnbkyv6z6fhl5izaq4l1v6z2qq1x-hello.txt";
        Assert.That(Reason(Replace(line, "StorePath: lp8nmnbkyv6z6fhl5izaq4l1v6z2qq1x-hello.txt")), Does.StartWith("narinfo: StorePath: ").And.Contain("does not start with /nix/store/"));
        Assert.That(Reason(Replace(line, "StorePath: /nix/store/lp8nmnbkyv6z6fhl5izaq4l1v6z2qq1x-hello txt")), Does.StartWith("narinfo: StorePath: ").And.Contain("not allowed"));
    }

    [Test]
    public void StorePathWithAnotherHash_IsRejected()
    {
        var other = StorePath.ParseBasename(Reference1);
        var error = Assert.Throws<StoreValidationException>(() => NarInfo.Parse(Encoding.UTF8.GetBytes(Example), other.Hash));
        Assert.That(error!.Message, Is.EqualTo("narinfo: StorePath /nix/store/lp8nmnbkyv6z6fhl5izaq4l1v6z2qq1x-hello.txt has another hash than the one asked for"));
    }

    [Test]
    public void MissingUrl_IsCorrupt() =>
        Assert.That(Reason(Without("URL: nar/0d4fwkrnlkqbz3skg7hwxi1r9lldznyqjn2825qcl254cpn164qx.nar.xz")), Is.EqualTo("narinfo: no URL line"));

    [Test]
    public void EmptyUrl_IsCorrupt() =>
        Assert.That(Reason(Replace("URL: nar/0d4fwkrnlkqbz3skg7hwxi1r9lldznyqjn2825qcl254cpn164qx.nar.xz", "URL: ")), Is.EqualTo("narinfo: URL is empty"));

    [Test]
    public void MissingNarHash_IsCorrupt() =>
        Assert.That(Reason(Without("NarHash: sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n")), Is.EqualTo("narinfo: no NarHash line"));

    [TestCase("sha1:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", "it is a sha1 hash, a sha256 one is required")]
    [TestCase("sha512:abc", "it is a sha512 hash, a sha256 one is required")]
    [TestCase("md5:abc", "it is a md5 hash, a sha256 one is required")]
    [TestCase("blake3:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n", "\"blake3\" is not a hash type Nix knows")]
    public void NarHashOfAnotherAlgorithm_IsRejectedNamingIt(string value, string why) =>
        Assert.That(Reason(Replace("NarHash: sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n", "NarHash: " + value)),
            Is.EqualTo($"narinfo: NarHash \"{value}\": {why}"));

    [Test]
    public void NarHashWithoutType_IsCorrupt() =>
        Assert.That(Reason(Replace("NarHash: sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n", "NarHash: 0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n")),
            Does.StartWith("narinfo: NarHash \"0qd9").And.EndWith("it does not say its hash type (expected sha256:...)"));

    [TestCase("sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7e", "it is not valid nixbase32")]
    [TestCase("sha256:zqd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n", "it is not valid nixbase32")]
    [TestCase("sha256:g66863db64512bf540ecbe2b6d5869cef71509e6c0040508fcd35d47167fa961", "it is not valid base16")]
    [TestCase("sha256:0qd9gwb4f", "9 characters is not the length of a 32-byte hash in base16, nixbase32 or base64")]
    [TestCase("sha256-AAAA", "it is not the base64 of 32 bytes")]
    public void NarHashBadlyEncoded_IsCorrupt(string value, string why) =>
        Assert.That(Reason(Replace("NarHash: sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n", "NarHash: " + value)),
            Is.EqualTo($"narinfo: NarHash \"{value}\": {why}"));

    [Test]
    public void FileHashOfAnotherAlgorithm_IsRejected() =>
        Assert.That(Reason(Replace("FileHash: sha256:0d4fwkrnlkqbz3skg7hwxi1r9lldznyqjn2825qcl254cpn164qx", "FileHash: sha1:0mdqa9w1p6cmli6976v4wi0sw9r4p5pr")),
            Is.EqualTo("narinfo: FileHash \"sha1:0mdqa9w1p6cmli6976v4wi0sw9r4p5pr\": it is a sha1 hash, a sha256 one is required"));

    [Test]
    public void MissingNarSize_IsCorrupt() =>
        Assert.That(Reason(Without("NarSize: 128")), Is.EqualTo("narinfo: no NarSize line"));

    [Test]
    public void NarSizeZero_IsCorrupt() =>
        Assert.That(Reason(Replace("NarSize: 128", "NarSize: 0")), Is.EqualTo("narinfo: NarSize is 0"));

    [TestCase("-1")]
    [TestCase("+128")]
    [TestCase("12a")]
    [TestCase(" 128")]
    [TestCase("")]
    [TestCase("18446744073709551616")]
    public void NarSizeNotAnUnsignedNumber_IsCorrupt(string value) =>
        Assert.That(Reason(Replace("NarSize: 128", "NarSize: " + value)), Is.EqualTo($"narinfo: NarSize \"{value}\" is not a number"));

    [Test]
    public void FileSizeNotANumber_IsCorrupt() =>
        Assert.That(Reason(Replace("FileSize: 136", "FileSize: lots")), Is.EqualTo("narinfo: FileSize \"lots\" is not a number"));

    [Test]
    public void SecondReferencesLine_IsCorrupt()
    {
        Assert.That(Reason(With("References: " + Reference1)), Is.EqualTo("narinfo: a second References line"));
        // Nix lets a second line pass when the first was empty; we do not
        Assert.That(Reason(With("References: ")), Is.EqualTo("narinfo: a second References line"));
    }

    [TestCase("StorePath: /nix/store/lp8nmnbkyv6z6fhl5izaq4l1v6z2qq1x-hello.txt")]
    [TestCase("URL: nar/other.nar")]
    [TestCase("Compression: none")]
    [TestCase("FileHash: sha256:0d4fwkrnlkqbz3skg7hwxi1r9lldznyqjn2825qcl254cpn164qx")]
    [TestCase("FileSize: 136")]
    [TestCase("NarHash: sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n")]
    [TestCase("NarSize: 128")]
    [TestCase("CA: fixed:r:sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n")]
    public void SecondLineOfAnyOtherField_IsCorrupt(string line) =>
        Assert.That(Reason(With(line)), Is.EqualTo($"narinfo: a second {line[..line.IndexOf(':', StringComparison.Ordinal)]} line"));

    [Test]
    public void SecondDeriverOrSystemLine_IsCorrupt()
    {
        Assert.That(Reason(With("Deriver: unknown-deriver") + $"Deriver: {Reference1}\n"), Is.EqualTo("narinfo: a second Deriver line"));
        Assert.That(Reason(With("System: a") + "System: b\n"), Is.EqualTo("narinfo: a second System line"));
    }

    [Test]
    public void ReferenceNotABasename_IsCorrupt()
    {
        Assert.That(Reason(Replace("References: ", "References: /nix/store/" + Reference1)), Does.StartWith("narinfo: References: invalid store path basename"));
        Assert.That(Reason(Replace("References: ", "References: " + Reference1 + "\tx")), Does.StartWith("narinfo: References: invalid store path basename"));
    }

    [Test]
    public void DeriverNotABasename_IsCorrupt() =>
        Assert.That(Reason(With("Deriver: foo.drv")), Does.StartWith("narinfo: Deriver: invalid store path basename \"foo.drv\""));

    [TestCase("no-colon-at-all", "is not name:base64")]
    [TestCase(":AAAA", "has an empty key name")]
    [TestCase("k-1:!!!!", "is not valid base64")]
    [TestCase("k-1:AAAA", "is 3 bytes, an Ed25519 signature is 64")]
    public void MalformedSig_IsCorrupt(string value, string why) =>
        Assert.That(Reason(With("Sig: " + value)), Is.EqualTo($"narinfo: Sig: signature \"{value}\" {why}"));

    [TestCase("source:sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n", "has the prefix \"source\", not text or fixed")]
    [TestCase("fixed:r:blake3:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n", "names the hash type \"blake3\", which Nix does not know")]
    [TestCase("text:sha1:0mdqa9w1p6cmli6976v4wi0sw9r4p5pr", "is text with a sha1 hash, text is always sha256")]
    [TestCase("fixed:r:sha256:0qd9", "has a bad hash: 4 characters is not the length of a 32-byte hash in base16, nixbase32 or base64")]
    [TestCase("fixed", "is not <prefix>:<rest>")]
    [TestCase("fixed:r:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n", "has no <algo>:<hash>")]
    public void MalformedCa_IsCorrupt(string value, string why) =>
        Assert.That(Reason(Replace("CA: fixed:r:sha256:0qd9gwb4fpfkzh40a160wq4ibxyfd5c6saxyxi0gaasickdn6s7n", "CA: " + value)),
            Is.EqualTo($"narinfo: CA: content address \"{value}\" {why}"));

    [Test]
    public void HostileValues_AreCutShortInTheReason()
    {
        string reason = Reason(Replace("NarSize: 128", "NarSize: " + new string('9', 5000) + "x"));
        Assert.That(reason.Length, Is.LessThan(200));
        Assert.That(Reason(Replace("FileSize: 136", "FileSize: \u001b[31m")), Does.Not.Contain("\u001b"));
    }
}
