using NUnit.Framework;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Tests.Fuse;

/// <summary>
/// The session's reply sink: once the session has closed it (after destroy, before /dev/fuse
/// closes), a late reply is dropped without reaching libfuse. The request handles here point at
/// nothing: a reply that reached fuse_reply_* would crash the test process.
/// </summary>
[TestFixture]
public sealed class KernelReplySinkTests
{
    [Test]
    public void AClosedSinkDropsEveryReplyWithoutTouchingLibfuse()
    {
        var sink = new KernelReplySink();
        sink.Close();
        var request = new FuseRequest(0x10);
        FuseEntryPoints.LastAnsweredRequest = 0;
        FuseEntryParam entry = default;
        Stat attr = default;
        StatVfs stat = default;
        FuseFileInfo info = default;
        FuseBufVec buffers = KernelReplySink.FileBuffer(0, 0, 1);
        Assert.Multiple(() =>
        {
            Assert.That(sink.Entry(request, in entry), Is.Zero);
            Assert.That(sink.Attr(request, in attr, 1), Is.Zero);
            Assert.That(sink.Err(request, 0), Is.Zero);
            Assert.That(sink.Buf(request, "x"u8), Is.Zero);
            Assert.That(sink.Data(request, ref buffers, FuseBufCopyFlags.SpliceMove), Is.Zero);
            Assert.That(sink.Open(request, in info), Is.Zero);
            Assert.That(sink.OpenPassthrough(request, in info, 1), Is.Zero);
            Assert.That(sink.ReadLink(request, "t\0"u8), Is.Zero);
            Assert.That(sink.StatFs(request, in stat), Is.Zero);
            Assert.That(sink.Xattr(request, 0), Is.Zero);
        });
        sink.None(request);
        Assert.That(FuseEntryPoints.LastAnsweredRequest, Is.EqualTo((nint)0), "no reply was marked as sent");
    }
}
