using System.Text;
using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Model.BinaryCache;
using StorePath = TvixLowFs.Store.Model.StorePath;

namespace TvixLowFs.Tests.BinaryCache.Model;

/// <summary>
/// Narinfos, signatures and content addresses against real Nix 2.8: a signed <c>file://</c> cache
/// made by <c>nix copy</c> from a chroot store holding every kind of path (recursive, flat, text with
/// and without references, fixed with other hashes, an input-addressed build with a deriver).
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class RealNixCacheTests
{
    private RealNix _nix = null!;
    private string _cache = null!;
    private string _secretKeyFile = null!;
    private string _publicKeyFile = null!;
    private readonly Dictionary<string, string> _paths = new(StringComparer.Ordinal);

    [OneTimeSetUp]
    public void MakeSignedCache()
    {
        _nix = new RealNix(Path.Combine(Path.GetTempPath(), "tvixlowfs-narinfo-" + Guid.NewGuid().ToString("N")));
        (_secretKeyFile, _publicKeyFile) = _nix.GenerateKey("test-cache-1");

        string source = Path.Combine(_nix.Directory, "src");
        System.IO.Directory.CreateDirectory(Path.Combine(source, "sub"));
        File.WriteAllText(Path.Combine(source, "a.txt"), "hello\n");
        File.WriteAllText(Path.Combine(source, "sub", "run.sh"), "#!/bin/sh\necho hi\n");
        File.SetUnixFileMode(Path.Combine(source, "sub", "run.sh"), (UnixFileMode)0b111_101_101);
        File.CreateSymbolicLink(Path.Combine(source, "link"), "a.txt");
        string flat = Path.Combine(_nix.Directory, "flat.bin");
        File.WriteAllText(flat, "flat content\n");

        _paths["recursive"] = _nix.Add(source);
        _paths["flat"] = _nix.AddFixed("sha256", flat, recursive: false);
        _paths["flat-sha1"] = _nix.AddFixed("sha1", flat, recursive: false);
        _paths["recursive-sha512"] = _nix.AddFixed("sha512", source, recursive: true);
        _paths["text"] = Unquote(_nix.Evaluate("builtins.toFile \"foo\" \"bar\""));

        string expression = Path.Combine(_nix.Directory, "scout.nix");
        File.WriteAllText(expression, """
            let
              dep = builtins.toFile "dep.txt" "dependency\n";
              withref = builtins.toFile "withref.txt" "I point at ${dep}\n";
            in {
              inherit withref;
              scout = derivation {
                name = "scout"; system = builtins.currentSystem; builder = "/bin/sh";
                args = [ "-c" "echo ${withref} > $out" ];
              };
            }
            """);
        _paths["text-with-reference"] = Unquote(_nix.Run("nix-instantiate", [.. _nix.StoreOptions, "--read-write-mode", "--eval", expression, "-A", "withref"]).Trim());
        _paths["input-addressed"] = _nix.Build(expression, "scout");

        _cache = Path.Combine(_nix.Directory, "cache");
        _nix.CopyToFileCache(_cache, "none", _secretKeyFile, [.. _paths.Values]);
    }

    [OneTimeTearDown]
    public void RemoveTheStore()
    {
        if (_nix is not null && System.IO.Directory.Exists(_nix.Directory))
            System.IO.Directory.Delete(_nix.Directory, recursive: true);
    }

    private static string Unquote(string printed) => printed.Trim('"');

    private IEnumerable<string> NarInfoFiles() => System.IO.Directory.EnumerateFiles(_cache, "*.narinfo").Order(StringComparer.Ordinal);

    private NarInfo Read(string storePath)
    {
        var path = StorePath.ParseAbsolute(storePath);
        return NarInfo.Parse(File.ReadAllBytes(Path.Combine(_cache, path.HashPart + ".narinfo")), path.Hash);
    }

    private static StorePathHash HashOfFile(string narInfoFile)
    {
        Span<byte> hash = stackalloc byte[StorePathHash.Length];
        Assert.That(NixBase32.TryDecode(Path.GetFileNameWithoutExtension(narInfoFile).AsSpan(), hash), Is.True);
        return StorePathHash.FromBytes(hash);
    }

    [Test]
    public void EveryNarInfoNixWrote_ParsesAndFormatsBackToTheSameBytes()
    {
        var files = NarInfoFiles().ToList();
        // the seven paths plus dep.txt, which withref.txt refers to
        Assert.That(files, Has.Count.EqualTo(8));
        foreach (string file in files)
        {
            byte[] bytes = File.ReadAllBytes(file);
            var narInfo = NarInfo.Parse(bytes, HashOfFile(file));
            Assert.That(narInfo.Format(), Is.EqualTo(Encoding.UTF8.GetString(bytes)), file);
            Assert.That(narInfo.Compression, Is.EqualTo("none"));
            // Compression none: the file is the NAR
            Assert.That(narInfo.FileHash, Is.EqualTo(narInfo.NarHash));
            Assert.That(narInfo.FileSize, Is.EqualTo(narInfo.NarSize));
            Assert.That(new FileInfo(Path.Combine(_cache, narInfo.Url)).Length, Is.EqualTo((long)narInfo.NarSize));
            Assert.That(narInfo.Signatures, Has.Count.EqualTo(1));
        }
    }

    [Test]
    public void OurFingerprint_VerifiesNixsSignatureWithOurPublicKey()
    {
        var key = NixPublicKey.Parse(File.ReadAllText(_publicKeyFile));
        foreach (string file in NarInfoFiles())
        {
            var narInfo = NarInfo.Parse(File.ReadAllBytes(file), HashOfFile(file));
            Assert.That(key.Verifies(narInfo.Fingerprint(), narInfo.Signatures[0]), Is.True, file);
            Assert.That(NarInfoTrust.Check(narInfo, [key]), Is.EqualTo(SignatureVerdict.TrustedSignature), file);
        }
    }

    [Test]
    public void OurSignature_WithNixsSecretKey_IsTheSignatureNixWrote()
    {
        // Ed25519 is deterministic: signing the same fingerprint with the same key gives the same bytes.
        var secretKey = NixSecretKey.Load(_secretKeyFile);
        Assert.That(secretKey.PublicKey.ToString(), Is.EqualTo(File.ReadAllText(_publicKeyFile).Trim()));
        foreach (string file in NarInfoFiles())
        {
            var narInfo = NarInfo.Parse(File.ReadAllBytes(file), HashOfFile(file));
            Assert.That(secretKey.Sign(narInfo.Fingerprint()), Is.EqualTo(narInfo.Signatures[0]), file);
        }
    }

    [Test]
    public void NixStoreVerify_AcceptsOurSignatureAndRejectsAnUntrustedOne()
    {
        // A second cache holding the input-addressed path (CA paths need no signature in Nix, so only
        // it shows whether a signature counts), re-signed by us with a fresh key Nix made.
        var (otherSecret, otherPublic) = _nix.GenerateKey("our-signer-1");
        string storePath = _paths["input-addressed"];
        var original = Read(storePath);
        var resigned = new NarInfo
        {
            StorePath = original.StorePath, Url = original.Url, Compression = original.Compression,
            FileHash = original.FileHash, FileSize = original.FileSize, NarHash = original.NarHash,
            NarSize = original.NarSize, References = original.References, Deriver = original.Deriver,
            System = original.System, ContentAddress = original.ContentAddress,
            Signatures = [NixSecretKey.Load(otherSecret).Sign(original.Fingerprint())],
        };
        string cache = Path.Combine(_nix.Directory, "resigned-cache");
        System.IO.Directory.CreateDirectory(Path.Combine(cache, "nar"));
        File.Copy(Path.Combine(_cache, "nix-cache-info"), Path.Combine(cache, "nix-cache-info"));
        File.Copy(Path.Combine(_cache, original.Url), Path.Combine(cache, original.Url));
        File.WriteAllText(Path.Combine(cache, original.StorePath.HashPart + ".narinfo"), resigned.Format());

        string[] verify = ["store", "verify", "--store", "file://" + cache, "--option", "substituters", "", "--no-contents"];
        var accepted = _nix.TryRun("nix", ["--extra-experimental-features", "nix-command", .. verify,
            "--trusted-public-keys", File.ReadAllText(otherPublic).Trim(), storePath]);
        Assert.That(accepted.ExitCode, Is.EqualTo(0), accepted.Stderr);

        var rejected = _nix.TryRun("nix", ["--extra-experimental-features", "nix-command", .. verify,
            "--trusted-public-keys", File.ReadAllText(_publicKeyFile).Trim(), storePath]);
        Assert.That(rejected.ExitCode, Is.Not.EqualTo(0));
        Assert.That(rejected.Stderr, Does.Contain("untrusted"));

        // and our side agrees
        var reread = NarInfo.Parse(File.ReadAllBytes(Path.Combine(cache, original.StorePath.HashPart + ".narinfo")), original.StorePath.Hash);
        Assert.That(NarInfoTrust.Check(reread, [NixPublicKey.Parse(File.ReadAllText(otherPublic))]), Is.EqualTo(SignatureVerdict.TrustedSignature));
        Assert.That(NarInfoTrust.Check(reread, [NixPublicKey.Parse(File.ReadAllText(_publicKeyFile))]), Is.EqualTo(SignatureVerdict.Untrusted));
    }

    [TestCase("recursive", "fixed:r:sha256:")]
    [TestCase("flat", "fixed:sha256:")]
    [TestCase("flat-sha1", "fixed:sha1:")]
    [TestCase("recursive-sha512", "fixed:r:sha512:")]
    [TestCase("text", "text:sha256:")]
    [TestCase("text-with-reference", "text:sha256:")]
    public void ContentAddressedPathNixMade_ProvesItsStorePath(string kind, string caPrefix)
    {
        var narInfo = Read(_paths[kind]);
        Assert.That(narInfo.ContentAddress, Does.StartWith(caPrefix));
        Assert.That(narInfo.ContentAddressProvesStorePath(), Is.True);
        // without any trusted signature, the CA still vouches for it
        var stranger = NixSecretKey.Parse(StrangerSecretKey).PublicKey;
        Assert.That(NarInfoTrust.Check(narInfo, [stranger]), Is.EqualTo(SignatureVerdict.ContentAddressed));
    }

    [TestCase("recursive", true)]
    [TestCase("flat", false)]
    [TestCase("flat-sha1", false)]
    [TestCase("recursive-sha512", false)]
    [TestCase("text", false)]
    public void TheCaHash_IsWhatItsMethodSays_SoAnIngesterCanCheckIt(string kind, bool coveredByNarHash)
    {
        // what an ingester computes: the NAR for recursive, the one file's bytes for text and flat
        var narInfo = Read(_paths[kind]);
        var ca = narInfo.ParsedContentAddress!;
        Assert.That(ca.IsCoveredByNarHash, Is.EqualTo(coveredByNarHash));
        byte[] nar = File.ReadAllBytes(Path.Combine(_cache, narInfo.Url));
        byte[] hashed = ca.Method == ContentAddressMethod.Recursive
            ? nar
            : File.ReadAllBytes(Path.Combine(_nix.StoreRoot, narInfo.StorePath.AbsolutePath.TrimStart('/')));
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(ca.HashAlgorithmName);
        hash.AppendData(hashed);
        Assert.That(hash.GetHashAndReset(), Is.EqualTo(ca.Hash.ToArray()));
    }

    [Test]
    public void InputAddressedPath_IsNotContentAddressed_AndUntrustedWithoutItsKey()
    {
        var narInfo = Read(_paths["input-addressed"]);
        Assert.That(narInfo.ContentAddress, Is.Null);
        Assert.That(narInfo.ContentAddressProvesStorePath(), Is.False);
        Assert.That(NarInfoTrust.Check(narInfo, [NixSecretKey.Parse(StrangerSecretKey).PublicKey]), Is.EqualTo(SignatureVerdict.Untrusted));
        Assert.That(NarInfoTrust.Check(narInfo, []), Is.EqualTo(SignatureVerdict.NoTrustedKeysConfigured));
    }

    [Test]
    public void TextPathWithAnotherReference_NoLongerProvesItself()
    {
        var narInfo = Read(_paths["text-with-reference"]);
        var forged = Rebuild(narInfo, references: []);
        Assert.That(forged.ContentAddressProvesStorePath(), Is.False);
    }

    [Test]
    public void RecursivePathWithAnotherNarHash_NoLongerProvesItself()
    {
        // the store path and CA still match each other, but the NAR served would be another one
        var narInfo = Read(_paths["recursive"]);
        byte[] otherHash = (byte[])narInfo.NarHash.Clone();
        otherHash[0] ^= 1;
        Assert.That(Rebuild(narInfo, narHash: otherHash).ContentAddressProvesStorePath(), Is.False);
    }

    [Test]
    public void FlatPathUnderAnotherName_NoLongerProvesItself()
    {
        var narInfo = Read(_paths["flat"]);
        var renamed = new StorePath(narInfo.StorePath.Hash, "other.bin");
        Assert.That(Rebuild(narInfo, storePath: renamed).ContentAddressProvesStorePath(), Is.False);
    }

    [Test]
    public void InputAddressedPath_ToPathInfo_CarriesEveryField_AndFromPathInfoGivesItBack()
    {
        var narInfo = Read(_paths["input-addressed"]);
        var root = new Node { File = new FileNode { Name = ByteString.CopyFromUtf8(narInfo.StorePath.Basename), Digest = ByteString.CopyFrom(new byte[32]), Size = 12 } };
        var pathInfo = narInfo.ToPathInfo(root);

        var withref = StorePath.ParseAbsolute(_paths["text-with-reference"]);
        Assert.That(pathInfo.Node, Is.EqualTo(root));
        Assert.That(pathInfo.References.Select(r => r.ToByteArray()), Is.EqualTo(new[] { withref.Hash.ToArray() }));
        Assert.That(pathInfo.Narinfo.ReferenceNames, Is.EqualTo(new[] { withref.Basename }));
        Assert.That(pathInfo.Narinfo.NarSize, Is.EqualTo(narInfo.NarSize));
        Assert.That(pathInfo.Narinfo.NarSha256.ToByteArray(), Is.EqualTo(narInfo.NarHash));
        Assert.That(pathInfo.Narinfo.Deriver.Name, Is.EqualTo("scout.drv"));
        Assert.That(pathInfo.Narinfo.Deriver.Digest.ToByteArray(), Is.EqualTo(narInfo.Deriver!.Hash.ToArray()));
        Assert.That(pathInfo.Narinfo.Signatures.Single().Name, Is.EqualTo("test-cache-1"));
        Assert.That(pathInfo.Narinfo.Signatures.Single().Data.ToByteArray(), Is.EqualTo(narInfo.Signatures[0].Bytes));
        Assert.That(pathInfo.Narinfo.Ca, Is.Null);
        Assert.That(PathInfoRules.Validate(pathInfo), Is.EqualTo(narInfo.StorePath));

        var back = NarInfo.FromPathInfo(pathInfo, narInfo.Url, narInfo.Compression, narInfo.FileHash, narInfo.FileSize);
        Assert.That(back, Is.EqualTo(narInfo));
        Assert.That(back.Format(), Is.EqualTo(narInfo.Format()));
    }

    [TestCase("recursive", TvixLowFs.Protos.Store.NARInfo.Types.CA.Types.Hash.NarSha256)]
    [TestCase("flat", TvixLowFs.Protos.Store.NARInfo.Types.CA.Types.Hash.FlatSha256)]
    [TestCase("flat-sha1", TvixLowFs.Protos.Store.NARInfo.Types.CA.Types.Hash.FlatSha1)]
    [TestCase("recursive-sha512", TvixLowFs.Protos.Store.NARInfo.Types.CA.Types.Hash.NarSha512)]
    [TestCase("text", TvixLowFs.Protos.Store.NARInfo.Types.CA.Types.Hash.TextSha256)]
    public void ContentAddressedPath_ToPathInfo_CarriesTheCa_AndFromPathInfoGivesItBack(string kind, TvixLowFs.Protos.Store.NARInfo.Types.CA.Types.Hash type)
    {
        var narInfo = Read(_paths[kind]);
        var root = new Node { Symlink = new SymlinkNode { Name = ByteString.CopyFromUtf8(narInfo.StorePath.Basename), Target = ByteString.CopyFromUtf8("x") } };
        var pathInfo = narInfo.ToPathInfo(root);
        Assert.That(pathInfo.Narinfo.Ca.Type, Is.EqualTo(type));
        Assert.That(pathInfo.Narinfo.Ca.Digest.ToByteArray(), Is.EqualTo(narInfo.ParsedContentAddress!.Hash.ToArray()));
        if (type == TvixLowFs.Protos.Store.NARInfo.Types.CA.Types.Hash.NarSha256)
            Assert.That(pathInfo.Narinfo.Ca.Digest.ToByteArray(), Is.EqualTo(narInfo.NarHash));
        Assert.That(pathInfo.Narinfo.Deriver, Is.Null);

        var back = NarInfo.FromPathInfo(pathInfo, narInfo.Url, narInfo.Compression, narInfo.FileHash, narInfo.FileSize);
        Assert.That(back, Is.EqualTo(narInfo));
    }

    [Test]
    public void ToPathInfo_RefusesARootNamedOtherwise()
    {
        var narInfo = Read(_paths["text"]);
        var root = new Node { Symlink = new SymlinkNode { Name = ByteString.CopyFromUtf8("not-it"), Target = ByteString.CopyFromUtf8("x") } };
        var error = Assert.Throws<ArgumentException>(() => narInfo.ToPathInfo(root));
        Assert.That(error!.Message, Does.Contain(narInfo.StorePath.Basename));
    }

    // A key no cache here signed with (made once by nix-store --generate-binary-cache-key).
    internal const string StrangerSecretKey =
        "stranger-1:9ALTBbpzer7EljYV2HxE5tJXidcZorev+Q+kxfgLSZVx5ayfrN664MBKsNrOE1ZjS/YouE+nGiy7y99O8k1dEg==";

    private static NarInfo Rebuild(NarInfo from, IReadOnlyList<StorePath>? references = null, byte[]? narHash = null, StorePath? storePath = null) => new()
    {
        StorePath = storePath ?? from.StorePath, Url = from.Url, Compression = from.Compression,
        FileHash = from.FileHash, FileSize = from.FileSize, NarHash = narHash ?? from.NarHash,
        NarSize = from.NarSize, References = references ?? from.References, Deriver = from.Deriver,
        System = from.System, Signatures = from.Signatures, ContentAddress = from.ContentAddress,
    };
}
