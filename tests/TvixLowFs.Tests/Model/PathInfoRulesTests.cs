using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using StorePath = TvixLowFs.Store.Model.StorePath;

namespace TvixLowFs.Tests.Model;

[TestFixture]
public sealed class PathInfoRulesTests
{
    private const string Basename = "00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432";

    private static PathInfo Valid() => new()
    {
        Node = new Node
        {
            Directory = new DirectoryNode
            {
                Name = ByteString.CopyFromUtf8(Basename),
                Digest = B3Digest.Empty.ToByteString(),
                Size = 0,
            },
        },
        References = { ByteString.CopyFrom(new byte[20]), ByteString.CopyFrom(Enumerable.Repeat((byte)7, 20).ToArray()) },
        Narinfo = new NARInfo
        {
            NarSize = 120,
            NarSha256 = ByteString.CopyFrom(new byte[32]),
            Signatures = { new NARInfo.Types.Signature { Name = "cache.nixos.org-1", Data = ByteString.CopyFrom(new byte[64]) } },
            ReferenceNames = { "00000000000000000000000000000000-a", "00000000000000000000000000000001-b" },
            Deriver = new TvixLowFs.Protos.Store.StorePath { Name = "x.drv", Digest = ByteString.CopyFrom(new byte[20]) },
            Ca = new NARInfo.Types.CA { Type = NARInfo.Types.CA.Types.Hash.NarSha256, Digest = ByteString.CopyFrom(new byte[32]) },
        },
    };

    private static void AssertBroken(PathInfo pathInfo, string rule)
    {
        var error = Assert.Throws<StoreValidationException>(() => PathInfoRules.Validate(pathInfo));
        Assert.That(error!.Message, Does.Contain(rule));
    }

    [Test]
    public void ValidPathInfo_ReturnsTheStorePathOfItsNode()
    {
        StorePath path = PathInfoRules.Validate(Valid());
        Assert.That(path.Basename, Is.EqualTo(Basename));
        Assert.That(path.Hash.ToHex(), Is.EqualTo("8a12321522fd91efbd60ebb2481af88580f61600"));
    }

    [Test]
    public void EveryKindOfRootNode_IsAccepted()
    {
        var file = Valid();
        file.Node = new Node { File = new FileNode { Name = ByteString.CopyFromUtf8(Basename), Digest = B3Digest.Empty.ToByteString() } };
        Assert.DoesNotThrow(() => PathInfoRules.Validate(file));
        var symlink = Valid();
        symlink.Node = new Node { Symlink = new SymlinkNode { Name = ByteString.CopyFromUtf8(Basename), Target = ByteString.CopyFromUtf8("/x") } };
        Assert.DoesNotThrow(() => PathInfoRules.Validate(symlink));
    }

    [Test]
    public void WithoutNarinfo_IsAccepted()
    {
        var pathInfo = Valid();
        pathInfo.Narinfo = null;
        Assert.DoesNotThrow(() => PathInfoRules.Validate(pathInfo));
    }

    [Test]
    public void ProtobufRoundTrip_KeepsEveryField()
    {
        var pathInfo = Valid();
        var parsed = PathInfo.Parser.ParseFrom(pathInfo.ToByteArray());
        Assert.That(parsed, Is.EqualTo(pathInfo));
        Assert.That(parsed.Narinfo.Ca.Type, Is.EqualTo(NARInfo.Types.CA.Types.Hash.NarSha256));
        Assert.That(parsed.Narinfo.Signatures.Single().Name, Is.EqualTo("cache.nixos.org-1"));
    }

    [Test]
    public void MissingNode_IsRejected()
    {
        var pathInfo = Valid();
        pathInfo.Node = null;
        AssertBroken(pathInfo, PathInfoRules.RuleNodeSet);
    }

    [Test]
    public void EmptyNode_IsRejected()
    {
        var pathInfo = Valid();
        pathInfo.Node = new Node();
        AssertBroken(pathInfo, PathInfoRules.RuleNodeSet);
    }

    [TestCase("hello")]
    [TestCase("00bgd045z0d4icpbc2yyz4gx48ak44la-")]
    [TestCase("00bgd045z0d4icpbc2yyz4gx48ak44la-a b")]
    [TestCase("00bgd045z0d4icpbc2yyz4gx48ak44le-ab")]
    [TestCase("")]
    public void NodeNameThatIsNotABasename_IsRejected(string name)
    {
        var pathInfo = Valid();
        pathInfo.Node.Directory.Name = ByteString.CopyFromUtf8(name);
        AssertBroken(pathInfo, PathInfoRules.RuleNodeName);
    }

    [Test]
    public void NodeWithABadDigest_IsRejected()
    {
        var pathInfo = Valid();
        pathInfo.Node.Directory.Digest = ByteString.CopyFrom(new byte[20]);
        AssertBroken(pathInfo, DirectoryRules.RuleDigest);
    }

    [TestCase(0)]
    [TestCase(19)]
    [TestCase(21)]
    [TestCase(32)]
    public void ReferenceOfWrongLength_IsRejected(int length)
    {
        var pathInfo = Valid();
        pathInfo.References.Add(ByteString.CopyFrom(new byte[length]));
        var error = Assert.Throws<StoreValidationException>(() => PathInfoRules.Validate(pathInfo));
        Assert.That(error!.Message, Does.Contain(PathInfoRules.RuleReference).And.Contain($"references[2] is {length} bytes"));
    }

    [TestCase(0)]
    [TestCase(20)]
    [TestCase(31)]
    [TestCase(64)]
    public void NarSha256OfWrongLength_IsRejected(int length)
    {
        var pathInfo = Valid();
        pathInfo.Narinfo.NarSha256 = ByteString.CopyFrom(new byte[length]);
        AssertBroken(pathInfo, PathInfoRules.RuleNarSha256);
    }
}
