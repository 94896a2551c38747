using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// Kernel cache invalidation (FUSE_3.0). Content here never changes, so these exist for completeness
// and for tests; they must not be called from inside a handler of the same session (deadlock risk).
internal static unsafe partial class LibFuse
{
    /// <summary><c>int fuse_lowlevel_notify_inval_inode(struct fuse_session *se, fuse_ino_t ino, off_t off, off_t len)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_lowlevel_notify_inval_inode")]
    internal static partial int NotifyInvalidateInode(nint session, ulong inode, long offset, long length);

    /// <summary><c>int fuse_lowlevel_notify_inval_entry(struct fuse_session *se, fuse_ino_t parent, const char *name, size_t namelen)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_lowlevel_notify_inval_entry")]
    internal static partial int NotifyInvalidateEntry(nint session, ulong parent, byte* name, nuint nameLength);
}
