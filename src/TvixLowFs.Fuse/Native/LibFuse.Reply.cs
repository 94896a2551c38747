using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// The fuse_reply_* family (fuse_lowlevel.h, all FUSE_3.0). Each answers (and frees) the request;
// they return 0 or -errno (e.g. -ENOENT when the kernel already forgot an interrupted request).
internal static unsafe partial class LibFuse
{
    [LibraryImport(Library, EntryPoint = "fuse_reply_err")]
    internal static partial int ReplyErr(nint request, int errno);

    [LibraryImport(Library, EntryPoint = "fuse_reply_none")]
    internal static partial void ReplyNone(nint request);

    [LibraryImport(Library, EntryPoint = "fuse_reply_entry")]
    internal static partial int ReplyEntry(nint request, FuseEntryParam* entry);

    [LibraryImport(Library, EntryPoint = "fuse_reply_attr")]
    internal static partial int ReplyAttr(nint request, Stat* attr, double attrTimeout);

    [LibraryImport(Library, EntryPoint = "fuse_reply_readlink")]
    internal static partial int ReplyReadLink(nint request, byte* link);

    [LibraryImport(Library, EntryPoint = "fuse_reply_open")]
    internal static partial int ReplyOpen(nint request, FuseFileInfo* fileInfo);

    [LibraryImport(Library, EntryPoint = "fuse_reply_buf")]
    internal static partial int ReplyBuf(nint request, byte* buffer, nuint size);

    [LibraryImport(Library, EntryPoint = "fuse_reply_data")]
    internal static partial int ReplyData(nint request, FuseBufVec* bufferVector, FuseBufCopyFlags flags);

    /// <summary><c>int fuse_reply_iov(fuse_req_t req, const struct iovec *iov, int count)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_reply_iov")]
    internal static partial int ReplyIov(nint request, IoVec* vectors, int count);

    [LibraryImport(Library, EntryPoint = "fuse_reply_statfs")]
    internal static partial int ReplyStatFs(nint request, StatVfs* stat);

    [LibraryImport(Library, EntryPoint = "fuse_reply_xattr")]
    internal static partial int ReplyXattr(nint request, nuint size);
}
