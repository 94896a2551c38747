using System.Buffers;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Model;

/// <summary>The rules of a valid Directory and its canonical digest (shared/PROTOCOL.md).</summary>
public static class DirectoryRules
{
    public const string RuleSorted = "each list is sorted by name, strictly ascending";
    public const string RuleUnique = "a name is unique across directories, files and symlinks";
    public const string RuleName = "a name is 1..255 bytes, not . or .., without / or NUL";
    public const string RuleDigest = "a digest is 32 bytes";
    public const string RuleTarget = "a symlink target is non-empty and has no NUL";
    /// <summary>
    /// The kernel's sizes (st_size, off_t, loff_t) are signed 64-bit: a file's size, a directory
    /// node's size and a Directory's own recursive size are each at most 2^63 - 1.
    /// </summary>
    public const string RuleSize = "a size (a file's, a directory node's, a directory's recursive size) is at most 2^63 - 1";

    /// <summary>The largest size <see cref="RuleSize"/> allows: the kernel's off_t.</summary>
    public const ulong MaxSize = long.MaxValue;
    public const string RuleChildSize = "a directory node's size is its child's recursive size";
    public const string RuleNodeSet = "a node is one of directory, file or symlink";

    /// <summary>BLAKE3-256 of the canonical encoding (field order, defaults omitted, unknown fields dropped).</summary>
    public static B3Digest Digest(Directory directory)
    {
        int size = CanonicalSize(directory);
        if (size <= 1024)
        {
            Span<byte> small = stackalloc byte[size];
            WriteCanonical(directory, small);
            return VerifiedDirectory.Hash(small);
        }
        byte[] rented = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            WriteCanonical(directory, rented);
            return VerifiedDirectory.Hash(rented.AsSpan(0, size));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// The canonical encoding: what <c>ToByteArray</c> gives for a message without unknown fields.
    /// Unknown fields (ours or a nested node's) are never written, so they cannot change the digest.
    /// </summary>
    public static byte[] CanonicalEncoding(Directory directory)
    {
        var bytes = new byte[CanonicalSize(directory)];
        WriteCanonical(directory, bytes);
        return bytes;
    }

    /// <summary>The length of <see cref="CanonicalEncoding"/>.</summary>
    public static int CanonicalSize(Directory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        long total = 0;
        foreach (var node in directory.Directories)
            total += FieldSize(DirectoryNodeSize(node));
        foreach (var node in directory.Files)
            total += FieldSize(FileNodeSize(node));
        foreach (var node in directory.Symlinks)
            total += FieldSize(SymlinkNodeSize(node));
        if (total > Array.MaxLength)
            throw new StoreValidationException($"a Directory of {total} bytes is too large to encode");
        return (int)total;
    }

    /// <summary>Writes <see cref="CanonicalEncoding"/> into <paramref name="destination"/>; returns the byte count.</summary>
    public static int WriteCanonical(Directory directory, Span<byte> destination)
    {
        int size = CanonicalSize(directory);
        if (destination.Length < size)
            throw new ArgumentException($"the canonical encoding needs {size} bytes, the destination holds {destination.Length}", nameof(destination));
        int at = 0;
        foreach (var node in directory.Directories)
        {
            WriteTag(destination, ref at, 1, WireLength);
            WriteVarint(destination, ref at, (ulong)DirectoryNodeSize(node));
            WriteBytesField(destination, ref at, 1, node.Name);
            WriteBytesField(destination, ref at, 2, node.Digest);
            WriteVarintField(destination, ref at, 3, node.Size);
        }
        foreach (var node in directory.Files)
        {
            WriteTag(destination, ref at, 2, WireLength);
            WriteVarint(destination, ref at, (ulong)FileNodeSize(node));
            WriteBytesField(destination, ref at, 1, node.Name);
            WriteBytesField(destination, ref at, 2, node.Digest);
            WriteVarintField(destination, ref at, 3, node.Size);
            WriteVarintField(destination, ref at, 4, node.Executable ? 1UL : 0UL);
        }
        foreach (var node in directory.Symlinks)
        {
            WriteTag(destination, ref at, 3, WireLength);
            WriteVarint(destination, ref at, (ulong)SymlinkNodeSize(node));
            WriteBytesField(destination, ref at, 1, node.Name);
            WriteBytesField(destination, ref at, 2, node.Target);
        }
        return at;
    }

    /// <summary>
    /// Checks every rule on one message: sorted unique names across the three lists, valid names,
    /// 32-byte digests, non-empty NUL-free symlink targets, and sizes the kernel can represent
    /// (each node's and the message's own recursive size at most 2^63 - 1).
    /// Throws <see cref="StoreValidationException"/> naming the rule and the entry.
    /// </summary>
    public static void Validate(Directory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var directories = directory.Directories;
        for (int i = 0; i < directories.Count; i++)
        {
            var node = directories[i];
            CheckName(node.Name, "directory");
            CheckDigest(node.Digest, "directory", node.Name);
            CheckSize(node.Size, "directory", node.Name);
            if (i > 0)
                CheckAfter(directories[i - 1].Name, node.Name, "directory");
        }
        var files = directory.Files;
        for (int i = 0; i < files.Count; i++)
        {
            var node = files[i];
            CheckName(node.Name, "file");
            CheckDigest(node.Digest, "file", node.Name);
            CheckSize(node.Size, "file", node.Name);
            if (i > 0)
                CheckAfter(files[i - 1].Name, node.Name, "file");
        }
        var symlinks = directory.Symlinks;
        for (int i = 0; i < symlinks.Count; i++)
        {
            var node = symlinks[i];
            CheckName(node.Name, "symlink");
            CheckTarget(node.Target, node.Name);
            if (i > 0)
                CheckAfter(symlinks[i - 1].Name, node.Name, "symlink");
        }

        // Every list is sorted now, so a duplicate across lists shows up as two equal neighbours in merged order.
        ByteString? previous = null;
        CastoreNodeKind previousKind = default;
        foreach (var child in Children(directory))
        {
            if (previous is not null && previous.Span.SequenceEqual(child.Name.Span))
                throw Broken(RuleUnique, KindWord(child.Kind), child.Name.Span, $"the name is also used by a {KindWord(previousKind)}");
            previous = child.Name;
            previousKind = child.Kind;
        }

        Size(directory);
    }

    /// <summary>
    /// Decodes a Directory fetched by <paramref name="expected"/> and checks it before anything uses it:
    /// the bytes decode, the message hashes to the digest asked for, and every rule holds. Throws
    /// <see cref="StoreValidationException"/> naming the digest for each of these failures.
    /// </summary>
    public static Directory ParseVerified(ReadOnlySpan<byte> bytes, B3Digest expected) =>
        VerifiedDirectory.Decode(bytes, expected).Message;

    /// <summary>Checks that <paramref name="directory"/> is valid and hashes to <paramref name="expected"/>.</summary>
    public static void Verify(Directory directory, B3Digest expected) => VerifiedDirectory.Verify(directory, expected);

    /// <summary>The size a DirectoryNode pointing at this directory must carry (at most <see cref="MaxSize"/>).</summary>
    public static ulong Size(Directory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ulong entries = (ulong)directory.Directories.Count + (ulong)directory.Files.Count + (ulong)directory.Symlinks.Count;
        ulong size = 0;
        DirectoryNode? last = null;
        foreach (var node in directory.Directories)
        {
            // Both terms are at most 2^63 here, so the sum cannot wrap before it is compared.
            size += Math.Min(node.Size, MaxSize + 1);
            if (size > MaxSize)
                throw Broken(RuleSize, "directory", node.Name.Span, $"adding its size {node.Size} makes the recursive size more than 2^63 - 1");
            last = node;
        }
        if (size + entries > MaxSize)
            throw Broken(RuleSize, "directory", last!.Name.Span, $"with its size {last.Size} and {entries} entries the recursive size is more than 2^63 - 1");
        return size + entries;
    }

    /// <summary>Checks that a directory node carries the recursive size of the Directory it points at.</summary>
    public static void ValidateChildSize(DirectoryNode node, Directory child)
    {
        ArgumentNullException.ThrowIfNull(node);
        ulong actual = Size(child);
        if (node.Size != actual)
            throw Broken(RuleChildSize, "directory", node.Name.Span, $"it says size {node.Size}, its Directory has {actual}");
    }

    /// <summary>1..255 bytes, not "." or "..", no '/' and no NUL.</summary>
    public static bool IsValidName(ReadOnlySpan<byte> name) => NodeNames.IsValid(name);

    /// <summary>
    /// Validates a single node (name, digest length, target) as it would appear in a Directory or as a PathInfo root.
    /// With <paramref name="requireName"/> false the name is not looked at (a CalculateNAR request ignores it).
    /// </summary>
    public static void ValidateNode(Node node, bool requireName = true)
    {
        ArgumentNullException.ThrowIfNull(node);
        switch (node.NodeCase)
        {
            case Node.NodeOneofCase.Directory:
                if (requireName)
                    CheckName(node.Directory.Name, "directory");
                CheckDigest(node.Directory.Digest, "directory", node.Directory.Name);
                CheckSize(node.Directory.Size, "directory", node.Directory.Name);
                break;
            case Node.NodeOneofCase.File:
                if (requireName)
                    CheckName(node.File.Name, "file");
                CheckDigest(node.File.Digest, "file", node.File.Name);
                CheckSize(node.File.Size, "file", node.File.Name);
                break;
            case Node.NodeOneofCase.Symlink:
                if (requireName)
                    CheckName(node.Symlink.Name, "symlink");
                CheckTarget(node.Symlink.Target, node.Symlink.Name);
                break;
            default:
                throw new StoreValidationException($"node rule '{RuleNodeSet}' broken: the node is empty");
        }
    }

    /// <summary>
    /// The entries of a Directory merged into one sequence in name order (the readdir order), without
    /// allocating. Assumes each list is sorted (a validated Directory); on equal names, directories come first.
    /// </summary>
    public static DirectoryChildren Children(Directory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return new DirectoryChildren(directory);
    }

    /// <summary>The merged children as one array (index = readdir position).</summary>
    public static DirectoryChild[] ChildrenArray(Directory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var children = new DirectoryChild[directory.Directories.Count + directory.Files.Count + directory.Symlinks.Count];
        int i = 0;
        foreach (var child in Children(directory))
            children[i++] = child;
        return children;
    }

    /// <summary>The merged children as immutable node values (validated as they are converted).</summary>
    public static CastoreNode[] Nodes(Directory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var nodes = new CastoreNode[directory.Directories.Count + directory.Files.Count + directory.Symlinks.Count];
        int i = 0;
        foreach (var child in Children(directory))
            nodes[i++] = child.ToNode();
        return nodes;
    }

    /// <summary>Finds a child by name with a binary search in each list (the Directory must be valid).</summary>
    public static bool TryFindChild(Directory directory, ReadOnlySpan<byte> name, out DirectoryChild child)
    {
        ArgumentNullException.ThrowIfNull(directory);
        int i = BinarySearch(directory.Directories, name, static n => n.Name);
        if (i >= 0)
        {
            child = new DirectoryChild(CastoreNodeKind.Directory, directory.Directories[i], i);
            return true;
        }
        i = BinarySearch(directory.Files, name, static n => n.Name);
        if (i >= 0)
        {
            child = new DirectoryChild(CastoreNodeKind.File, directory.Files[i], i);
            return true;
        }
        i = BinarySearch(directory.Symlinks, name, static n => n.Name);
        if (i >= 0)
        {
            child = new DirectoryChild(CastoreNodeKind.Symlink, directory.Symlinks[i], i);
            return true;
        }
        child = default;
        return false;
    }

    /// <summary>
    /// Builds a valid Directory from named nodes in any order (sorted here), e.g. while importing a tree.
    /// Throws <see cref="StoreValidationException"/> on an unnamed node, a duplicate name or any other broken rule.
    /// </summary>
    public static Directory FromNodes(IEnumerable<CastoreNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        var sorted = nodes.ToArray();
        Array.Sort(sorted, static (a, b) => a.Name.Span.SequenceCompareTo(b.Name.Span));
        var directory = new Directory();
        foreach (var node in sorted)
        {
            if (node.Name.IsEmpty)
                throw Broken(RuleName, KindWord(node.Kind), node.Name.Span, NodeNames.Problem(node.Name.Span)!);
            switch (node)
            {
                case DirectoryEntry d: directory.Directories.Add(d.ToDirectoryNode()); break;
                case FileEntry f: directory.Files.Add(f.ToFileNode()); break;
                case SymlinkEntry s: directory.Symlinks.Add(s.ToSymlinkNode()); break;
            }
        }
        Validate(directory);
        return directory;
    }

    private static int BinarySearch<T>(IList<T> list, ReadOnlySpan<byte> name, Func<T, ByteString> nameOf)
    {
        int low = 0, high = list.Count - 1;
        while (low <= high)
        {
            int mid = low + ((high - low) >> 1);
            int order = nameOf(list[mid]).Span.SequenceCompareTo(name);
            if (order == 0)
                return mid;
            if (order < 0)
                low = mid + 1;
            else
                high = mid - 1;
        }
        return -1;
    }

    internal static string KindWord(CastoreNodeKind kind) => kind switch
    {
        CastoreNodeKind.Directory => "directory",
        CastoreNodeKind.File => "file",
        _ => "symlink",
    };

    private static void CheckName(ByteString name, string kind)
    {
        if (NodeNames.Problem(name.Span) is { } problem)
            throw Broken(RuleName, kind, name.Span, problem);
    }

    private static void CheckDigest(ByteString digest, string kind, ByteString name)
    {
        if (digest.Length != B3Digest.Length)
            throw Broken(RuleDigest, kind, name.Span, $"its digest is {digest.Length} bytes");
    }

    private static void CheckSize(ulong size, string kind, ByteString name)
    {
        if (size > MaxSize)
            throw Broken(RuleSize, kind, name.Span, $"its size {size} is more than 2^63 - 1");
    }

    private static void CheckTarget(ByteString target, ByteString name)
    {
        if (target.Length == 0)
            throw Broken(RuleTarget, "symlink", name.Span, "the target is empty");
        if (target.Span.IndexOf((byte)0) >= 0)
            throw Broken(RuleTarget, "symlink", name.Span, $"the target {NodeNames.Escape(target.Span)} contains NUL");
    }

    private static void CheckAfter(ByteString previous, ByteString name, string kind)
    {
        int order = previous.Span.SequenceCompareTo(name.Span);
        if (order >= 0)
            throw Broken(RuleSorted, kind, name.Span,
                order == 0 ? "the name appears twice in the list" : $"it comes after {NodeNames.Escape(previous.Span)}");
    }

    private static StoreValidationException Broken(string rule, string kind, ReadOnlySpan<byte> name, string detail) =>
        new($"directory rule '{rule}' broken by {kind} {NodeNames.Escape(name)}: {detail}");

    private const int WireVarint = 0;
    private const int WireLength = 2;

    private static long BytesFieldSize(ByteString bytes) =>
        bytes.Length == 0 ? 0 : 1 + VarintSize((ulong)bytes.Length) + bytes.Length;

    private static long VarintFieldSize(ulong value) => value == 0 ? 0 : 1 + VarintSize(value);

    private static long FieldSize(long messageSize) => 1 + VarintSize((ulong)messageSize) + messageSize;

    private static long DirectoryNodeSize(DirectoryNode node) =>
        BytesFieldSize(node.Name) + BytesFieldSize(node.Digest) + VarintFieldSize(node.Size);

    private static long FileNodeSize(FileNode node) =>
        BytesFieldSize(node.Name) + BytesFieldSize(node.Digest) + VarintFieldSize(node.Size) + (node.Executable ? 2 : 0);

    private static long SymlinkNodeSize(SymlinkNode node) => BytesFieldSize(node.Name) + BytesFieldSize(node.Target);

    private static int VarintSize(ulong value)
    {
        int size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }
        return size;
    }

    private static void WriteTag(Span<byte> destination, ref int at, int field, int wireType) =>
        destination[at++] = (byte)((field << 3) | wireType);

    private static void WriteVarint(Span<byte> destination, ref int at, ulong value)
    {
        while (value >= 0x80)
        {
            destination[at++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[at++] = (byte)value;
    }

    private static void WriteBytesField(Span<byte> destination, ref int at, int field, ByteString bytes)
    {
        if (bytes.Length == 0)
            return;
        WriteTag(destination, ref at, field, WireLength);
        WriteVarint(destination, ref at, (ulong)bytes.Length);
        bytes.Span.CopyTo(destination[at..]);
        at += bytes.Length;
    }

    private static void WriteVarintField(Span<byte> destination, ref int at, int field, ulong value)
    {
        if (value == 0)
            return;
        WriteTag(destination, ref at, field, WireVarint);
        WriteVarint(destination, ref at, value);
    }
}

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

/// <summary>The merged, name-ordered view of a Directory's three lists (a struct: enumerating it allocates nothing).</summary>
public readonly struct DirectoryChildren
{
    private readonly Directory _directory;

    internal DirectoryChildren(Directory directory) => _directory = directory;

    public int Count => _directory.Directories.Count + _directory.Files.Count + _directory.Symlinks.Count;

    public Enumerator GetEnumerator() => new(_directory);

    public struct Enumerator
    {
        private readonly Directory _directory;
        private int _d, _f, _s;
        private DirectoryChild _current;

        internal Enumerator(Directory directory)
        {
            _directory = directory;
            _d = _f = _s = 0;
            _current = default;
        }

        public readonly DirectoryChild Current => _current;

        public bool MoveNext()
        {
            var directories = _directory.Directories;
            var files = _directory.Files;
            var symlinks = _directory.Symlinks;
            ByteString? best = null;
            CastoreNodeKind kind = default;
            if (_d < directories.Count)
            {
                best = directories[_d].Name;
                kind = CastoreNodeKind.Directory;
            }
            if (_f < files.Count && (best is null || files[_f].Name.Span.SequenceCompareTo(best.Span) < 0))
            {
                best = files[_f].Name;
                kind = CastoreNodeKind.File;
            }
            if (_s < symlinks.Count && (best is null || symlinks[_s].Name.Span.SequenceCompareTo(best.Span) < 0))
            {
                kind = CastoreNodeKind.Symlink;
                best = symlinks[_s].Name;
            }
            if (best is null)
                return false;
            _current = kind switch
            {
                CastoreNodeKind.Directory => new DirectoryChild(kind, directories[_d], _d++),
                CastoreNodeKind.File => new DirectoryChild(kind, files[_f], _f++),
                _ => new DirectoryChild(kind, symlinks[_s], _s++),
            };
            return true;
        }
    }
}
