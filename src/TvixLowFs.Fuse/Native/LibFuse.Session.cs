using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// fuse_session_*: create, mount, unmount, destroy, exit (fuse_lowlevel.h). All FUSE_3.0.
internal static unsafe partial class LibFuse
{
    /// <summary>The soname every import binds; the 3.x ABI is stable under it.</summary>
    internal const string Library = "libfuse3.so.3";

    /// <summary><c>struct fuse_session *fuse_session_new(struct fuse_args *args, const struct fuse_lowlevel_ops *op, size_t op_size, void *userdata)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_session_new")]
    internal static partial nint SessionNew(FuseArgs* args, FuseLowLevelOps* operations, nuint operationsSize, nint userData);

    /// <summary><c>int fuse_session_mount(struct fuse_session *se, const char *mountpoint)</c>: 0 or -1.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_session_mount")]
    internal static partial int SessionMount(nint session, byte* mountPoint);

    /// <summary><c>void fuse_session_unmount(struct fuse_session *se)</c>; a no-op once unmounted.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_session_unmount")]
    internal static partial void SessionUnmount(nint session);

    /// <summary><c>void fuse_session_destroy(struct fuse_session *se)</c>: calls the destroy op (if init ran), closes /dev/fuse.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_session_destroy")]
    internal static partial void SessionDestroy(nint session);

    /// <summary><c>void fuse_session_exit(struct fuse_session *se)</c>: only sets a flag (3.14); the loop notices after its next request.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_session_exit")]
    internal static partial void SessionExit(nint session);

    /// <summary><c>int fuse_session_exited(struct fuse_session *se)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_session_exited")]
    internal static partial int SessionExited(nint session);

    /// <summary><c>void fuse_session_reset(struct fuse_session *se)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_session_reset")]
    internal static partial void SessionReset(nint session);

    /// <summary><c>int fuse_session_fd(struct fuse_session *se)</c>: the /dev/fuse descriptor.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_session_fd")]
    internal static partial int SessionFd(nint session);

    /// <summary>
    /// <c>int fuse_session_custom_io(struct fuse_session *se, const struct fuse_custom_io *io, int fd)</c>
    /// (FUSE_3.14): libfuse copies <paramref name="io"/> and does its device reads and writes through it.
    /// </summary>
    [LibraryImport(Library, EntryPoint = "fuse_session_custom_io")]
    internal static partial int SessionCustomIo(nint session, FuseCustomIo* io, int fd);
}
