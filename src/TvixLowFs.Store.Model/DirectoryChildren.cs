using Google.Protobuf;
using Google.Protobuf.Collections;
using TvixLowFs.Protos.Castore;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Model;

/// <summary>The merged, name-ordered view of a Directory's three lists (a struct: enumerating it allocates nothing).</summary>
public readonly struct DirectoryChildren
{
    private readonly Directory _directory;

    private DirectoryChildren(Directory directory) => _directory = directory;

    /// <summary>
    /// The entries of <paramref name="directory"/> merged into one sequence in name order (the readdir
    /// order), without allocating. Assumes each list is sorted (a validated Directory); on equal names,
    /// directories come first.
    /// </summary>
    public static DirectoryChildren Of(Directory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return new DirectoryChildren(directory);
    }

    public int Count => _directory.Directories.Count + _directory.Files.Count + _directory.Symlinks.Count;

    public Enumerator GetEnumerator() => new(_directory);

    /// <summary>The merged children as one array (index = readdir position).</summary>
    public DirectoryChild[] ToArray()
    {
        var children = new DirectoryChild[Count];
        int i = 0;
        foreach (var child in this)
            children[i++] = child;
        return children;
    }

    /// <summary>The merged children as immutable node values (validated as they are converted).</summary>
    public CastoreNode[] ToNodes()
    {
        var nodes = new CastoreNode[Count];
        int i = 0;
        foreach (var child in this)
            nodes[i++] = child.ToNode();
        return nodes;
    }

    /// <summary>Finds a child by name with a binary search in each list (the Directory must be valid).</summary>
    public bool TryFind(ReadOnlySpan<byte> name, out DirectoryChild child)
    {
        int i = NodeNames.BinarySearch(new DirectoryNames(_directory.Directories), name);
        if (i >= 0)
        {
            child = new DirectoryChild(CastoreNodeKind.Directory, _directory.Directories[i], i);
            return true;
        }
        i = NodeNames.BinarySearch(new FileNames(_directory.Files), name);
        if (i >= 0)
        {
            child = new DirectoryChild(CastoreNodeKind.File, _directory.Files[i], i);
            return true;
        }
        i = NodeNames.BinarySearch(new SymlinkNames(_directory.Symlinks), name);
        if (i >= 0)
        {
            child = new DirectoryChild(CastoreNodeKind.Symlink, _directory.Symlinks[i], i);
            return true;
        }
        child = default;
        return false;
    }

    private readonly struct DirectoryNames(RepeatedField<DirectoryNode> nodes) : ISortedNames
    {
        public int Count => nodes.Count;
        public ReadOnlySpan<byte> NameAt(int index) => nodes[index].Name.Span;
    }

    private readonly struct FileNames(RepeatedField<FileNode> nodes) : ISortedNames
    {
        public int Count => nodes.Count;
        public ReadOnlySpan<byte> NameAt(int index) => nodes[index].Name.Span;
    }

    private readonly struct SymlinkNames(RepeatedField<SymlinkNode> nodes) : ISortedNames
    {
        public int Count => nodes.Count;
        public ReadOnlySpan<byte> NameAt(int index) => nodes[index].Name.Span;
    }

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
