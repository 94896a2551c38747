using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Tests.Filesystem;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Test double for a kernel that no longer waits for the request (interrupted, or the connection
/// aborted): every reply is recorded as usual, and while <see cref="Rejecting"/> is set each one
/// returns -ENOENT, as fuse_reply_* does when the kernel refuses the write. A real kernel only
/// does this after an interrupt or abort races the reply, which a test cannot time.
/// </summary>
internal sealed class RejectingReplySink(RecordingReplySink recording) : IFuseReplySink
{
    private const int ENOENT = 2;

    public RecordingReplySink Recording { get; } = recording;

    public volatile bool Rejecting;

    private int Result(int recorded) => Rejecting ? -ENOENT : recorded;

    public int Entry(FuseRequest request, in FuseEntryParam entry) => Result(Recording.Entry(request, in entry));
    public int Attr(FuseRequest request, in Stat attr, double timeout) => Result(Recording.Attr(request, in attr, timeout));
    public int Err(FuseRequest request, int errno) => Result(Recording.Err(request, errno));
    public void None(FuseRequest request) => Recording.None(request);
    public int Buf(FuseRequest request, ReadOnlySpan<byte> data) => Result(Recording.Buf(request, data));
    public int Data(FuseRequest request, ref FuseBufVec buffers, FuseBufCopyFlags flags) => Result(Recording.Data(request, ref buffers, flags));
    public int Open(FuseRequest request, in FuseFileInfo fileInfo) => Result(Recording.Open(request, in fileInfo));
    public int OpenPassthrough(FuseRequest request, in FuseFileInfo fileInfo, int backingId) => Result(Recording.OpenPassthrough(request, in fileInfo, backingId));
    public int ReadLink(FuseRequest request, ReadOnlySpan<byte> target) => Result(Recording.ReadLink(request, target));
    public int StatFs(FuseRequest request, in StatVfs stat) => Result(Recording.StatFs(request, in stat));
    public int Xattr(FuseRequest request, nuint size) => Result(Recording.Xattr(request, size));
}
