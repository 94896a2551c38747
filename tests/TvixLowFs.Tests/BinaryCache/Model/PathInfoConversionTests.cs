using System.Text;
using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Model.BinaryCache;

namespace TvixLowFs.Tests.BinaryCache.Model;

/// <summary>FromPathInfo refuses a PathInfo that cannot be served as a narinfo, and Format refuses line injection.</summary>
[TestFixture]
public sealed class PathInfoConversionTests
{
    private static NarInfo Example() =>
        NarInfo.Parse(Encoding.UTF8.GetBytes(NarInfoParseTests.Example), NarInfoParseTests.ExamplePath.Hash);

    private static PathInfo ExamplePathInfo()
    {
        var narInfo = Example();
        var root = new Node { File = new FileNode { Name = ByteString.CopyFromUtf8(narInfo.StorePath.Basename), Digest = ByteString.CopyFrom(new byte[32]), Size = 10 } };
        return narInfo.ToPathInfo(root);
    }

    private static string Reason(PathInfo pathInfo) =>
        Assert.Throws<StoreValidationException>(() => NarInfo.FromPathInfo(pathInfo, "nar/x.nar", "none", null, null))!.Message;

    [Test]
    public void RoundTrip_KeepsEverything() =>
        Assert.That(NarInfo.FromPathInfo(ExamplePathInfo(), Example().Url, "xz", Example().FileHash, 136), Is.EqualTo(Example()));

    [Test]
    public void WithoutNarinfo_IsRefused()
    {
        var pathInfo = ExamplePathInfo();
        pathInfo.Narinfo = null;
        Assert.That(Reason(pathInfo), Does.Contain("has no narinfo"));
    }

    [Test]
    public void ReferenceNamesNotMatchingReferences_AreRefused()
    {
        var pathInfo = ExamplePathInfo();
        pathInfo.References.Add(ByteString.CopyFrom(new byte[20]));
        Assert.That(Reason(pathInfo), Does.Contain("0 reference_names for 1 references"));
        pathInfo.Narinfo.ReferenceNames.Add("00bgd045z0d4icpbc2yyz4gx48ak44la-a");
        Assert.That(Reason(pathInfo), Does.Contain("does not carry the hash of references[0]"));
    }

    [Test]
    public void ShortSignature_IsRefused()
    {
        var pathInfo = ExamplePathInfo();
        pathInfo.Narinfo.Signatures.Add(new NARInfo.Types.Signature { Name = "k-1", Data = ByteString.CopyFrom(new byte[63]) });
        Assert.That(Reason(pathInfo), Does.Contain("is 63 bytes, not 64"));
    }

    [Test]
    public void SignatureNameThatWouldInjectALine_IsRefused()
    {
        var pathInfo = ExamplePathInfo();
        pathInfo.Narinfo.Signatures.Add(new NARInfo.Types.Signature { Name = "k\nStorePath: /nix/store/x", Data = ByteString.CopyFrom(new byte[64]) });
        Assert.That(Reason(pathInfo), Does.Contain("is empty or holds ':', a newline or NUL"));
    }

    [Test]
    public void Format_RefusesAValueWithANewline()
    {
        var narInfo = NarInfo.FromPathInfo(ExamplePathInfo(), "nar/x.nar\nNarSize: 1", "none", null, null);
        Assert.Throws<InvalidOperationException>(() => narInfo.Format());
    }
}
