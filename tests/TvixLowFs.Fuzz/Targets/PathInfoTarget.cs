using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using StorePath = TvixLowFs.Store.Model.StorePath;

namespace TvixLowFs.Fuzz;

/// <summary>
/// A PathInfo message from a daemon or a store: protobuf decode (InvalidProtocolBufferException)
/// then <see cref="PathInfoRules.Validate"/> (StoreValidationException). An accepted PathInfo names
/// the store path its node carries.
/// </summary>
public sealed class PathInfoTarget : FuzzTarget
{
    private const string Basename = "00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432";

    public override string Name => "pathinfo";

    public override bool Run(byte[] input)
    {
        PathInfo pathInfo;
        StorePath storePath;
        try
        {
            pathInfo = PathInfo.Parser.ParseFrom(input);
            storePath = PathInfoRules.Validate(pathInfo);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or StoreValidationException)
        {
            return false;
        }
        if (!PathInfoRules.NodeName(pathInfo.Node).Span.SequenceEqual(System.Text.Encoding.UTF8.GetBytes(storePath.Basename)))
            throw new BrokenPromiseException("the store path Validate returned is not the node's name");
        return true;
    }

    public override IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        var digest = ByteString.CopyFrom(Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray());
        var name = ByteString.CopyFromUtf8(Basename);
        var reference = ByteString.CopyFrom(new byte[20]);
        var file = new PathInfo { Node = new Node { File = new FileNode { Name = name, Digest = digest, Size = 5 } } };
        file.References.Add(reference);
        file.Narinfo = new NARInfo { NarSize = 120, NarSha256 = digest };
        file.Narinfo.Signatures.Add(new NARInfo.Types.Signature { Name = "cache.example.org-1", Data = ByteString.CopyFrom(new byte[64]) });
        file.Narinfo.ReferenceNames.Add(Basename);
        yield return ("valid-file", file.ToByteArray());
        yield return ("valid-directory", new PathInfo { Node = new Node { Directory = new DirectoryNode { Name = name, Digest = digest, Size = 4 } } }.ToByteArray());
        yield return ("valid-symlink", new PathInfo { Node = new Node { Symlink = new SymlinkNode { Name = name, Target = ByteString.CopyFromUtf8("/nix/store/x") } } }.ToByteArray());

        yield return ("near-no-node", new PathInfo().ToByteArray());
        yield return ("near-bad-name", new PathInfo { Node = new Node { File = new FileNode { Name = ByteString.CopyFromUtf8("not-a-store-path"), Digest = digest } } }.ToByteArray());
        var shortReference = file.Clone();
        shortReference.References.Add(ByteString.CopyFrom(new byte[19]));
        yield return ("near-short-reference", shortReference.ToByteArray());
        var shortNarHash = file.Clone();
        shortNarHash.Narinfo.NarSha256 = ByteString.CopyFrom(new byte[31]);
        yield return ("near-short-nar-sha256", shortNarHash.ToByteArray());
    }
}
