using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;

namespace TvixLowFs.Store.Model;

/// <summary>The rules of a valid PathInfo (shared/PROTOCOL.md).</summary>
public static class PathInfoRules
{
    public const string RuleNodeSet = "the node is set";
    public const string RuleNodeName = "the node's name is a store path basename";
    public const string RuleReference = "a reference is 20 bytes";
    public const string RuleNarSha256 = "narinfo.nar_sha256 is 32 bytes";

    /// <summary>
    /// Node set and valid, its name a valid store path basename, references 20 bytes each,
    /// nar_sha256 32 bytes when narinfo is set. Returns the store path the node names.
    /// Throws <see cref="StoreValidationException"/>.
    /// </summary>
    public static StorePath Validate(PathInfo pathInfo)
    {
        ArgumentNullException.ThrowIfNull(pathInfo);
        if (pathInfo.Node is null || pathInfo.Node.NodeCase == Node.NodeOneofCase.None)
            throw new StoreValidationException($"path info rule '{RuleNodeSet}' broken: it has no node");

        var name = NodeName(pathInfo.Node);
        StorePath storePath;
        try
        {
            storePath = StorePath.ParseBasename(name.Span);
        }
        catch (FormatException e)
        {
            throw new StoreValidationException($"path info rule '{RuleNodeName}' broken by node {NodeNames.Escape(name.Span)}: {e.Message}");
        }
        // A store path basename is always a valid node name, so this checks the digest or target.
        DirectoryRules.ValidateNode(pathInfo.Node);

        for (int i = 0; i < pathInfo.References.Count; i++)
        {
            int length = pathInfo.References[i].Length;
            if (length != StorePathHash.Length)
                throw new StoreValidationException(
                    $"path info rule '{RuleReference}' broken in {storePath.Basename}: references[{i}] is {length} bytes");
        }

        if (pathInfo.Narinfo is { } narinfo && narinfo.NarSha256.Length != 32)
            throw new StoreValidationException(
                $"path info rule '{RuleNarSha256}' broken in {storePath.Basename}: it is {narinfo.NarSha256.Length} bytes");

        return storePath;
    }

    /// <summary>The name of the node, whatever its kind (empty for an unset node).</summary>
    public static Google.Protobuf.ByteString NodeName(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return node.NodeCase switch
        {
            Node.NodeOneofCase.Directory => node.Directory.Name,
            Node.NodeOneofCase.File => node.File.Name,
            Node.NodeOneofCase.Symlink => node.Symlink.Name,
            _ => Google.Protobuf.ByteString.Empty,
        };
    }

    /// <summary>Gives the node (whatever its kind) the name <paramref name="name"/>: a root node gets its store path basename once its NAR hash is known.</summary>
    public static void SetNodeName(Node node, Google.Protobuf.ByteString name)
    {
        ArgumentNullException.ThrowIfNull(node);
        switch (node.NodeCase)
        {
            case Node.NodeOneofCase.Directory: node.Directory.Name = name; break;
            case Node.NodeOneofCase.File: node.File.Name = name; break;
            case Node.NodeOneofCase.Symlink: node.Symlink.Name = name; break;
        }
    }
}
