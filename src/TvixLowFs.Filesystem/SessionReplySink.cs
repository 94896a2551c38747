using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Filesystem;

/// <summary>
/// Forwards replies to the session's sink until the session is destroyed; after that a late
/// reply (a backend answering after unmount) is dropped instead of touching freed libfuse memory.
/// </summary>
internal sealed class SessionReplySink(IFuseReplySink inner) : IFuseReplySink
{
    private volatile bool _closed;

    public void Close() => _closed = true;

    public int Entry(FuseRequest request, in FuseEntryParam entry) => _closed ? 0 : inner.Entry(request, in entry);
    public int Attr(FuseRequest request, in Stat attr, double timeout) => _closed ? 0 : inner.Attr(request, in attr, timeout);
    public int Err(FuseRequest request, int errno) => _closed ? 0 : inner.Err(request, errno);

    public void None(FuseRequest request)
    {
        if (!_closed)
            inner.None(request);
    }

    public int Buf(FuseRequest request, ReadOnlySpan<byte> data) => _closed ? 0 : inner.Buf(request, data);
    public int Data(FuseRequest request, ref FuseBufVec buffers, FuseBufCopyFlags flags) => _closed ? 0 : inner.Data(request, ref buffers, flags);
    public int Open(FuseRequest request, in FuseFileInfo fileInfo) => _closed ? 0 : inner.Open(request, in fileInfo);
    public int OpenPassthrough(FuseRequest request, in FuseFileInfo fileInfo, int backingId) => _closed ? 0 : inner.OpenPassthrough(request, in fileInfo, backingId);
    public int ReadLink(FuseRequest request, ReadOnlySpan<byte> target) => _closed ? 0 : inner.ReadLink(request, target);
    public int StatFs(FuseRequest request, in StatVfs stat) => _closed ? 0 : inner.StatFs(request, in stat);
    public int Xattr(FuseRequest request, nuint size) => _closed ? 0 : inner.Xattr(request, size);
}
