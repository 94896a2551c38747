using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// fuse_buf_* (fuse_common.h, FUSE_3.0) and fuse_opt_free_args (fuse_opt.h, FUSE_3.0).
internal static unsafe partial class LibFuse
{
    /// <summary><c>size_t fuse_buf_size(const struct fuse_bufvec *bufv)</c>: the bytes left in the vector.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_buf_size")]
    internal static partial nuint BufSize(FuseBufVec* bufferVector);

    /// <summary><c>ssize_t fuse_buf_copy(struct fuse_bufvec *dst, struct fuse_bufvec *src, enum fuse_buf_copy_flags flags)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_buf_copy")]
    internal static partial nint BufCopy(FuseBufVec* destination, FuseBufVec* source, FuseBufCopyFlags flags);

    /// <summary><c>void fuse_opt_free_args(struct fuse_args *args)</c>: frees argv only when args->allocated (libfuse grew it).</summary>
    [LibraryImport(Library, EntryPoint = "fuse_opt_free_args")]
    internal static partial void OptFreeArgs(FuseArgs* args);
}
