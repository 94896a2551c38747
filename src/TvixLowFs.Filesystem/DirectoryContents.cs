using TvixLowFs.Store.Model;

namespace TvixLowFs.Filesystem;

/// <summary>
/// A Directory message turned into what requests need: its children merged in name order
/// (the readdir order; lookup is a binary search over the byte names), each with its inode.
/// Names live in one array, each followed by a NUL so they can be handed to libfuse as C strings.
/// </summary>
internal sealed class DirectoryContents : ISortedNames
{
    private readonly byte[] _names;
    private readonly Entry[] _entries;

    private DirectoryContents(byte[] names, Entry[] entries)
    {
        _names = names;
        _entries = entries;
    }

    public static DirectoryContents Empty { get; } = new([], []);

    /// <summary>What a prefetch that stopped before a directory it had reserved hands its waiters: fetch it yourselves.</summary>
    public static DirectoryContents NotPrefetched { get; } = new([], []);

    public int Count => _entries.Length;

    public ReadOnlySpan<byte> Name(int index)
    {
        ref readonly Entry entry = ref _entries[index];
        return _names.AsSpan(entry.NameOffset, entry.NameLength);
    }

    /// <summary>The name with its terminating NUL.</summary>
    public ReadOnlySpan<byte> NameWithNul(int index)
    {
        ref readonly Entry entry = ref _entries[index];
        return _names.AsSpan(entry.NameOffset, entry.NameLength + 1);
    }

    public InodeRecord Record(int index) => Volatile.Read(ref _entries[index].Record);

    /// <summary>Points an entry at the record now standing for its content (its old one was retired).</summary>
    public void ReplaceRecord(int index, InodeRecord current) => Volatile.Write(ref _entries[index].Record, current);

    /// <summary>The index of the child named <paramref name="name"/>, or -1.</summary>
    public int Find(ReadOnlySpan<byte> name) => NodeNames.BinarySearch(this, name);

    ReadOnlySpan<byte> ISortedNames.NameAt(int index) => Name(index);

    /// <summary>
    /// Builds the entries of a verified Directory (names sorted and unique across the three lists),
    /// giving each child its content-addressed inode.
    /// </summary>
    public static DirectoryContents Build(VerifiedDirectory directory, InodeTable inodes)
    {
        DirectoryChildren children = directory.Children;
        if (children.Count == 0)
            return Empty;

        int nameBytes = 0;
        foreach (DirectoryChild child in children)
            nameBytes += child.Name.Length + 1;

        var names = new byte[nameBytes];
        var entries = new Entry[children.Count];
        int i = 0, offset = 0;
        foreach (DirectoryChild child in children)
        {
            InodeRecord record = child.Kind switch
            {
                CastoreNodeKind.Directory => inodes.GetOrAddDirectory(B3Digest.FromByteString(child.Directory!.Digest), checked((long)child.Directory.Size)),
                CastoreNodeKind.File => inodes.GetOrAddFile(B3Digest.FromByteString(child.File!.Digest), checked((long)child.File.Size), child.File.Executable),
                _ => inodes.GetOrAddSymlink(WithNul(child.Symlink!.Target.Span)),
            };
            ReadOnlySpan<byte> name = child.Name.Span;
            name.CopyTo(names.AsSpan(offset));
            entries[i++] = new Entry(offset, name.Length, record);
            offset += name.Length + 1;
        }
        return new DirectoryContents(names, entries);
    }

    /// <summary>A new array holding <paramref name="bytes"/> and a NUL.</summary>
    public static byte[] WithNul(ReadOnlySpan<byte> bytes)
    {
        var copy = new byte[bytes.Length + 1];
        bytes.CopyTo(copy);
        return copy;
    }

    private struct Entry(int nameOffset, int nameLength, InodeRecord record)
    {
        public readonly int NameOffset = nameOffset;
        public readonly int NameLength = nameLength;
        public InodeRecord Record = record;
    }
}
