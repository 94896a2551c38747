using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Model;

/// <summary>
/// The rules of a valid Directory and its digest (shared/PROTOCOL.md). The encoding the digest is
/// taken of is <see cref="DirectoryEncoding"/>; the merged view of the three lists is <see cref="DirectoryChildren"/>.
/// </summary>
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

    /// <summary>BLAKE3-256 of the canonical encoding (<see cref="DirectoryEncoding"/>).</summary>
    public static B3Digest Digest(Directory directory) =>
        DirectoryEncoding.Use(directory, 0, static (canonical, _) => VerifiedDirectory.Hash(canonical));

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
        foreach (var child in DirectoryChildren.Of(directory))
        {
            if (previous is not null && previous.Span.SequenceEqual(child.Name.Span))
                throw Broken(RuleUnique, KindWord(child.Kind), child.Name.Span, $"the name is also used by a {KindWord(previousKind)}");
            previous = child.Name;
            previousKind = child.Kind;
        }

        Size(directory);
    }

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
}
