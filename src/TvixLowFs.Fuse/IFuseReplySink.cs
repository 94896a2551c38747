using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// Where a handler's replies go. <see cref="KernelReplySink"/> calls libfuse's <c>fuse_reply_*</c>;
/// benchmarks and tests substitute a recording sink and drive the very same handler code.
/// Names mirror libfuse; each call answers the request.
/// </summary>
public unsafe interface IFuseReplySink
{
    int Entry(FuseRequest request, in FuseEntryParam entry);
    int Attr(FuseRequest request, in Stat attr, double timeout);
    int Err(FuseRequest request, int errno);
    void None(FuseRequest request);
    int Buf(FuseRequest request, ReadOnlySpan<byte> data);
    int Data(FuseRequest request, ref FuseBufVec buffers, FuseBufCopyFlags flags);
    int Open(FuseRequest request, in FuseFileInfo fileInfo);
    /// <summary>
    /// Answers open with FOPEN_PASSTHROUGH and <paramref name="backingId"/> (from
    /// <see cref="IFuseBackingFiles.Open"/>): the kernel reads the backing file itself. Every open
    /// of one inode must use the same backing file while any of them is open.
    /// </summary>
    int OpenPassthrough(FuseRequest request, in FuseFileInfo fileInfo, int backingId);
    /// <summary><paramref name="target"/> must be NUL-terminated (the terminator included in the span).</summary>
    int ReadLink(FuseRequest request, ReadOnlySpan<byte> target);
    int StatFs(FuseRequest request, in StatVfs stat);
    int Xattr(FuseRequest request, nuint size);
}
