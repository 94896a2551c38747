using TvixLowFs.Protos.Store;

namespace TvixLowFs.Store.Model;

/// <summary>
/// A PathInfo checked once (<see cref="PathInfoRules.Validate"/>): the store path its root node
/// names and that node as a validated value. Whoever holds one reads the store path and the root
/// name from it instead of switching over the node's kind again. The message is shared: callers
/// must not change it.
/// </summary>
public sealed class VerifiedPathInfo
{
    private VerifiedPathInfo(PathInfo message, StorePath storePath, CastoreNode root)
    {
        Message = message;
        StorePath = storePath;
        Root = root;
    }

    public PathInfo Message { get; }

    public StorePath StorePath { get; }

    /// <summary>The root node (a <see cref="DirectoryEntry"/>, <see cref="FileEntry"/> or <see cref="SymlinkEntry"/>).</summary>
    public CastoreNode Root { get; }

    /// <summary>The root node's name: the store path's basename, as bytes.</summary>
    public ReadOnlyMemory<byte> RootName => Root.Name;

    /// <summary>Checks every PathInfo rule; throws <see cref="StoreValidationException"/> naming the one broken.</summary>
    public static VerifiedPathInfo Create(PathInfo pathInfo)
    {
        StorePath storePath = PathInfoRules.Validate(pathInfo);
        return new VerifiedPathInfo(pathInfo, storePath, CastoreNode.FromProto(pathInfo.Node));
    }
}
