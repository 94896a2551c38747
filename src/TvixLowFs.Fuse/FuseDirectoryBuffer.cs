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

    private static void CheckName(ReadOnlySpan<byte> nameWithNul)
    {
        if (nameWithNul.IsEmpty || nameWithNul[^1] != 0)
        {
            throw new ArgumentException("directory entry name must be NUL-terminated", nameof(nameWithNul));
        }
    }
}
