using Google.Protobuf;
using TvixLowFs.Protos.Castore;

namespace TvixLowFs.Store.Model;

/// <summary>One entry of a Directory seen in merged (readdir) order: its kind, its message and its index in its own list.</summary>
public readonly struct DirectoryChild
{
    private readonly IMessage? _node;

    internal DirectoryChild(CastoreNodeKind kind, IMessage node, int index)
    {
        Kind = kind;
        _node = node;
        Index = index;
    }

    public CastoreNodeKind Kind { get; }

    /// <summary>The position in <c>directories</c>, <c>files</c> or <c>symlinks</c>, whichever <see cref="Kind"/> says.</summary>
    public int Index { get; }

    public DirectoryNode? Directory => _node as DirectoryNode;
    public FileNode? File => _node as FileNode;
    public SymlinkNode? Symlink => _node as SymlinkNode;

    public ByteString Name => _node switch
    {
        DirectoryNode d => d.Name,
        FileNode f => f.Name,
        SymlinkNode s => s.Name,
        _ => ByteString.Empty,
    };

    /// <summary>The entry as an immutable node value (validates it).</summary>
    public CastoreNode ToNode() => _node switch
    {
        DirectoryNode d => DirectoryEntry.FromProto(d),
        FileNode f => FileEntry.FromProto(f),
        SymlinkNode s => SymlinkEntry.FromProto(s),
        _ => throw new InvalidOperationException("a default DirectoryChild holds no node"),
    };

    /// <summary>The entry as a protobuf <see cref="Node"/> (a PathInfo root or a CalculateNAR request).</summary>
    public Node ToProtoNode() => _node switch
    {
        DirectoryNode d => new Node { Directory = d },
        FileNode f => new Node { File = f },
        SymlinkNode s => new Node { Symlink = s },
        _ => throw new InvalidOperationException("a default DirectoryChild holds no node"),
    };
}
