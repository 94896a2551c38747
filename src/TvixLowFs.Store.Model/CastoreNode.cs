using Google.Protobuf;
using TvixLowFs.Protos.Castore;

namespace TvixLowFs.Store.Model;

public enum CastoreNodeKind
{
    Directory = 1,
    File = 2,
    Symlink = 3,
}

/// <summary>
/// One node of the castore graph as an immutable, validated value: a directory, a regular file or a
/// symlink, with its name as raw bytes. Converts from and to the protobuf <see cref="Node"/> family.
/// </summary>
/// <remarks>
/// The name is a valid node name (see <see cref="NodeNames.IsValid"/>) or empty: an empty name marks
/// an unnamed node, such as the node of a CalculateNAR request. A Directory never holds unnamed
/// entries (<see cref="DirectoryRules.Validate"/> rejects them).
/// </remarks>
public abstract class CastoreNode : IEquatable<CastoreNode>
{
    private protected CastoreNode(ReadOnlyMemory<byte> name)
    {
        if (!name.IsEmpty && NodeNames.Problem(name.Span) is { } problem)
            throw new StoreValidationException($"invalid node name {NodeNames.Escape(name.Span)}: {problem}");
        Name = name;
    }

    /// <summary>The name bytes (never to be written through).</summary>
    public ReadOnlyMemory<byte> Name { get; }

    public abstract CastoreNodeKind Kind { get; }

    /// <summary>The name escaped and quoted, for messages and logs.</summary>
    public string DisplayName => NodeNames.Escape(Name.Span);

    /// <summary>The same node under another name.</summary>
    public abstract CastoreNode WithName(ReadOnlySpan<byte> name);

    public abstract Node ToProto();

    /// <summary>Converts and validates a protobuf node; throws <see cref="StoreValidationException"/>.</summary>
    public static CastoreNode FromProto(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return node.NodeCase switch
        {
            Node.NodeOneofCase.Directory => DirectoryEntry.FromProto(node.Directory),
            Node.NodeOneofCase.File => FileEntry.FromProto(node.File),
            Node.NodeOneofCase.Symlink => SymlinkEntry.FromProto(node.Symlink),
            _ => throw new StoreValidationException("node rule 'one of directory, file or symlink is set' broken: the node is empty"),
        };
    }

    public bool Equals(CastoreNode? other) =>
        other is not null && other.Kind == Kind && other.Name.Span.SequenceEqual(Name.Span) && EqualsSameKind(other);

    private protected abstract bool EqualsSameKind(CastoreNode other);

    public override bool Equals(object? obj) => Equals(obj as CastoreNode);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Kind);
        hash.AddBytes(Name.Span);
        return hash.ToHashCode();
    }

    public override string ToString() => $"{Kind} {DisplayName}";

    // ByteStrings are immutable, so their memory is kept as is; other bytes are copied.
    private protected static ReadOnlyMemory<byte> Own(ReadOnlySpan<byte> bytes) => bytes.ToArray();

    private protected static ByteString Wrap(ReadOnlyMemory<byte> bytes) => UnsafeByteOperations.UnsafeWrap(bytes);

    private protected static B3Digest DigestOf(ByteString digest, string kind, ByteString name)
    {
        if (digest.Length != B3Digest.Length)
            throw new StoreValidationException(
                $"{kind} rule 'digest is {B3Digest.Length} bytes' broken: {NodeNames.Escape(name.Span)} has a {digest.Length}-byte digest");
        return B3Digest.FromBytes(digest.Span);
    }
}

/// <summary>A child directory: the digest of its Directory message and its recursive entry count.</summary>
public sealed class DirectoryEntry : CastoreNode
{
    public DirectoryEntry(ReadOnlySpan<byte> name, B3Digest digest, ulong size)
        : this(Own(name), digest, size) { }

    private DirectoryEntry(ReadOnlyMemory<byte> name, B3Digest digest, ulong size) : base(name)
    {
        Digest = digest;
        Size = size;
    }

    public override CastoreNodeKind Kind => CastoreNodeKind.Directory;
    public B3Digest Digest { get; }

    /// <summary>The number of entries below this directory, counted recursively.</summary>
    public ulong Size { get; }

    public override CastoreNode WithName(ReadOnlySpan<byte> name) => new DirectoryEntry(name, Digest, Size);

    public static DirectoryEntry FromProto(DirectoryNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return new DirectoryEntry(node.Name.Memory, DigestOf(node.Digest, "directory node", node.Name), node.Size);
    }

    public DirectoryNode ToDirectoryNode() => new() { Name = Wrap(Name), Digest = Digest.ToByteString(), Size = Size };

    public override Node ToProto() => new() { Directory = ToDirectoryNode() };

    private protected override bool EqualsSameKind(CastoreNode other) =>
        other is DirectoryEntry o && o.Digest == Digest && o.Size == Size;

    public override int GetHashCode() => HashCode.Combine(base.GetHashCode(), Digest);
}

/// <summary>A regular file: the digest of its blob, its size in bytes and whether it is executable.</summary>
public sealed class FileEntry : CastoreNode
{
    public FileEntry(ReadOnlySpan<byte> name, B3Digest digest, ulong size, bool executable)
        : this(Own(name), digest, size, executable) { }

    private FileEntry(ReadOnlyMemory<byte> name, B3Digest digest, ulong size, bool executable) : base(name)
    {
        Digest = digest;
        Size = size;
        Executable = executable;
    }

    public override CastoreNodeKind Kind => CastoreNodeKind.File;
    public B3Digest Digest { get; }
    public ulong Size { get; }
    public bool Executable { get; }

    public override CastoreNode WithName(ReadOnlySpan<byte> name) => new FileEntry(name, Digest, Size, Executable);

    public static FileEntry FromProto(FileNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return new FileEntry(node.Name.Memory, DigestOf(node.Digest, "file node", node.Name), node.Size, node.Executable);
    }

    public FileNode ToFileNode() =>
        new() { Name = Wrap(Name), Digest = Digest.ToByteString(), Size = Size, Executable = Executable };

    public override Node ToProto() => new() { File = ToFileNode() };

    private protected override bool EqualsSameKind(CastoreNode other) =>
        other is FileEntry o && o.Digest == Digest && o.Size == Size && o.Executable == Executable;

    public override int GetHashCode() => HashCode.Combine(base.GetHashCode(), Digest);
}

/// <summary>A symbolic link: its target bytes (non-empty, no NUL).</summary>
public sealed class SymlinkEntry : CastoreNode
{
    public SymlinkEntry(ReadOnlySpan<byte> name, ReadOnlySpan<byte> target)
        : this(Own(name), Own(target)) { }

    private SymlinkEntry(ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> target) : base(name)
    {
        if (target.IsEmpty || target.Span.IndexOf((byte)0) >= 0)
            throw new StoreValidationException(
                $"symlink node rule 'target is non-empty and has no NUL' broken: {NodeNames.Escape(name.Span)} -> {NodeNames.Escape(target.Span)}");
        Target = target;
    }

    public override CastoreNodeKind Kind => CastoreNodeKind.Symlink;

    /// <summary>The target bytes (never to be written through).</summary>
    public ReadOnlyMemory<byte> Target { get; }

    public override CastoreNode WithName(ReadOnlySpan<byte> name) => new SymlinkEntry(Own(name), Target);

    public static SymlinkEntry FromProto(SymlinkNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return new SymlinkEntry(node.Name.Memory, node.Target.Memory);
    }

    public SymlinkNode ToSymlinkNode() => new() { Name = Wrap(Name), Target = Wrap(Target) };

    public override Node ToProto() => new() { Symlink = ToSymlinkNode() };

    private protected override bool EqualsSameKind(CastoreNode other) =>
        other is SymlinkEntry o && o.Target.Span.SequenceEqual(Target.Span);

    public override int GetHashCode() => base.GetHashCode();
}
