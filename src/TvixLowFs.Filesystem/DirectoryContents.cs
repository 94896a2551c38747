using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Filesystem;

/// <summary>
/// A Directory message turned into what requests need: its children merged in name order
/// (the readdir order; lookup is a binary search over the byte names), each with its inode.
/// Names live in one array, each followed by a NUL so they can be handed to libfuse as C strings.
/// </summary>
internal sealed class DirectoryContents
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
    public int Find(ReadOnlySpan<byte> name)
    {
        int low = 0, high = _entries.Length - 1;
        while (low <= high)
        {
            int middle = low + ((high - low) >> 1);
            int order = Name(middle).SequenceCompareTo(name);
            if (order == 0)
                return middle;
            if (order < 0)
                low = middle + 1;
            else
                high = middle - 1;
        }
        return -1;
    }

    /// <summary>
    /// Builds the entries of a Directory that has already been validated (names sorted and unique
    /// across the three lists), giving each child its content-addressed inode.
    /// </summary>
    public static DirectoryContents Build(Directory directory, InodeTable inodes)
    {
        int count = directory.Directories.Count + directory.Files.Count + directory.Symlinks.Count;
        if (count == 0)
            return Empty;

        int nameBytes = 0;
        foreach (DirectoryNode node in directory.Directories)
            nameBytes += node.Name.Length + 1;
        foreach (FileNode node in directory.Files)
            nameBytes += node.Name.Length + 1;
        foreach (SymlinkNode node in directory.Symlinks)
            nameBytes += node.Name.Length + 1;

        var names = new byte[nameBytes];
        var entries = new Entry[count];
        int d = 0, f = 0, s = 0, offset = 0;
        for (int i = 0; i < count; i++)
        {
            // Three-way merge of the sorted lists by byte order of the names.
            ReadOnlySpan<byte> dName = d < directory.Directories.Count ? directory.Directories[d].Name.Span : default;
            ReadOnlySpan<byte> fName = f < directory.Files.Count ? directory.Files[f].Name.Span : default;
            ReadOnlySpan<byte> sName = s < directory.Symlinks.Count ? directory.Symlinks[s].Name.Span : default;
            bool hasD = d < directory.Directories.Count, hasF = f < directory.Files.Count, hasS = s < directory.Symlinks.Count;

            ReadOnlySpan<byte> name;
            InodeRecord record;
            if (hasD && (!hasF || dName.SequenceCompareTo(fName) < 0) && (!hasS || dName.SequenceCompareTo(sName) < 0))
            {
                DirectoryNode node = directory.Directories[d++];
                name = dName;
                record = inodes.GetOrAddDirectory(B3Digest.FromByteString(node.Digest), checked((long)node.Size));
            }
            else if (hasF && (!hasS || fName.SequenceCompareTo(sName) < 0))
            {
                FileNode node = directory.Files[f++];
                name = fName;
                record = inodes.GetOrAddFile(B3Digest.FromByteString(node.Digest), checked((long)node.Size), node.Executable);
            }
            else
            {
                SymlinkNode node = directory.Symlinks[s++];
                name = sName;
                record = inodes.GetOrAddSymlink(WithNul(node.Target.Span));
            }

            name.CopyTo(names.AsSpan(offset));
            entries[i] = new Entry(offset, name.Length, record);
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
