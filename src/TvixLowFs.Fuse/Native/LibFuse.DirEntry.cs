using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// fuse_add_direntry / fuse_add_direntry_plus (FUSE_3.0). In 3.14 both start with (void)req: they
// only pack a struct fuse_dirent(plus) into buf, so a zero request works (benchmarks, tests;
// FuseDirectoryBufferTests checks it with req = 0).
internal static unsafe partial class LibFuse
{
    /// <summary><c>size_t fuse_add_direntry(fuse_req_t req, char *buf, size_t bufsize, const char *name, const struct stat *stbuf, off_t off)</c>: the entry size, also when it did not fit.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_add_direntry")]
    internal static partial nuint AddDirEntry(nint request, byte* buffer, nuint bufferSize, byte* name, Stat* attr, long nextOffset);

    /// <summary><c>size_t fuse_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize, const char *name, const struct fuse_entry_param *e, off_t off)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_add_direntry_plus")]
    internal static partial nuint AddDirEntryPlus(nint request, byte* buffer, nuint bufferSize, byte* name, FuseEntryParam* entry, long nextOffset);
}
