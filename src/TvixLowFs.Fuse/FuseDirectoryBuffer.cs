using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// Packs directory entries for readdir / readdirplus replies into a caller-owned buffer through
/// fuse_add_direntry(_plus). libfuse 3.14 never looks at the request here, so these work without
/// a session (benchmarks, tests). Names must be NUL-terminated (terminator included in the span).
/// </summary>
public static unsafe class FuseDirectoryBuffer
{
    /// <summary>
    /// Appends one readdir entry at the start of <paramref name="remaining"/>. Only the inode and
    /// the file type bits of <paramref name="attr"/>.Mode are used. <paramref name="nextOffset"/>
    /// is the offset the kernel passes back to continue after this entry. Returns the entry size;
    /// when that exceeds <paramref name="remaining"/>.Length nothing was written and the reply is full.
    /// </summary>
    public static int Add(Span<byte> remaining, ReadOnlySpan<byte> nameWithNul, in Stat attr, long nextOffset)
    {
        CheckName(nameWithNul);
        fixed (byte* buffer = remaining)
        fixed (byte* name = nameWithNul)
        fixed (Stat* a = &attr)
        {
            return (int)LibFuse.AddDirEntry(0, buffer, (nuint)remaining.Length, name, a, nextOffset);
        }
    }

    /// <summary>
    /// Appends one readdirplus entry (full entry + attributes). As with lookup, every entry with a
    /// nonzero inode counts as a lookup the kernel will later forget. Returns the entry size;
    /// when that exceeds <paramref name="remaining"/>.Length nothing was written.
    /// </summary>
    public static int AddPlus(Span<byte> remaining, ReadOnlySpan<byte> nameWithNul, in FuseEntryParam entry, long nextOffset)
    {
        CheckName(nameWithNul);
        fixed (byte* buffer = remaining)
        fixed (byte* name = nameWithNul)
        fixed (FuseEntryParam* e = &entry)
        {
            return (int)LibFuse.AddDirEntryPlus(0, buffer, (nuint)remaining.Length, name, e, nextOffset);
        }
    }

    // struct fuse_direntplus: fuse_entry_out (128 bytes, nodeid first) then fuse_dirent
    // (ino, off, namelen, type, name), padded to 8 bytes (FUSE_DIRENTPLUS_SIZE).
    private const int EntryOutSize = 128;
    private const int NameLengthOffset = EntryOutSize + 16;
    private const int NameOffset = EntryOutSize + 24;

    /// <summary>
    /// Steps through a page built with <see cref="AddPlus"/>: the node id of the entry at
    /// <paramref name="offset"/> (0 for one that carries no entry), and <paramref name="offset"/>
    /// moved past it. False at the end of the page (or at a truncated entry).
    /// </summary>
    public static bool NextPlusEntry(ReadOnlySpan<byte> page, ref int offset, out ulong nodeId)
    {
        nodeId = 0;
        if (offset < 0 || page.Length - offset < NameOffset)
            return false;
        ReadOnlySpan<byte> entry = page[offset..];
        uint nameLength = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(entry[NameLengthOffset..]);
        long size = (NameOffset + (long)nameLength + 7) & ~7L;
        if (size > entry.Length)
            return false;
        nodeId = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(entry);
        offset += (int)size;
        return true;
    }

    private static void CheckName(ReadOnlySpan<byte> nameWithNul)
    {
        if (nameWithNul.IsEmpty || nameWithNul[^1] != 0)
        {
            throw new ArgumentException("directory entry name must be NUL-terminated", nameof(nameWithNul));
        }
    }
}
