using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Filesystem;

/// <summary>
/// Forwards replies to the session's sink until the session is destroyed; after that a late
/// reply (a backend answering after unmount) is dropped instead of touching freed libfuse memory
/// or a closed (maybe reused) descriptor. <see cref="Close"/> waits for replies already past the
/// check, so none is still writing when the channel closes.
/// </summary>
internal sealed class SessionReplySink(IFuseReplySink inner) : IFuseReplySink
{
    private volatile bool _closed;
    private int _replying;

    /// <summary>Drops every later reply and waits (briefly: a reply is one write) for those in progress.</summary>
    public void Close()
    {
        _closed = true;
        var spin = new SpinWait();
        long giveUp = Environment.TickCount64 + 5000;
        while (Volatile.Read(ref _replying) > 0 && Environment.TickCount64 < giveUp)
            spin.SpinOnce();
    }

    // Counted before the check: a reply either sees the sink closed, or Close sees it in progress.
    private bool Enter()
    {
        Interlocked.Increment(ref _replying);
        if (!_closed)
            return true;
        Interlocked.Decrement(ref _replying);
        return false;
    }

    private void Leave() => Interlocked.Decrement(ref _replying);

    public int Entry(FuseRequest request, in FuseEntryParam entry)
    {
        if (!Enter())
            return 0;
        try { return inner.Entry(request, in entry); }
        finally { Leave(); }
    }

    public int Attr(FuseRequest request, in Stat attr, double timeout)
    {
        if (!Enter())
            return 0;
        try { return inner.Attr(request, in attr, timeout); }
        finally { Leave(); }
    }

    public int Err(FuseRequest request, int errno)
    {
        if (!Enter())
            return 0;
        try { return inner.Err(request, errno); }
        finally { Leave(); }
    }

    public void None(FuseRequest request)
    {
        if (!Enter())
            return;
        try { inner.None(request); }
        finally { Leave(); }
    }

    public int Buf(FuseRequest request, ReadOnlySpan<byte> data)
    {
        if (!Enter())
            return 0;
        try { return inner.Buf(request, data); }
        finally { Leave(); }
    }

    public int Data(FuseRequest request, ref FuseBufVec buffers, FuseBufCopyFlags flags)
    {
        if (!Enter())
            return 0;
        try { return inner.Data(request, ref buffers, flags); }
        finally { Leave(); }
    }

    public int Open(FuseRequest request, in FuseFileInfo fileInfo)
    {
        if (!Enter())
            return 0;
        try { return inner.Open(request, in fileInfo); }
        finally { Leave(); }
    }

    public int OpenPassthrough(FuseRequest request, in FuseFileInfo fileInfo, int backingId)
    {
        if (!Enter())
            return 0;
        try { return inner.OpenPassthrough(request, in fileInfo, backingId); }
        finally { Leave(); }
    }

    public int ReadLink(FuseRequest request, ReadOnlySpan<byte> target)
    {
        if (!Enter())
            return 0;
        try { return inner.ReadLink(request, target); }
        finally { Leave(); }
    }

    public int StatFs(FuseRequest request, in StatVfs stat)
    {
        if (!Enter())
            return 0;
        try { return inner.StatFs(request, in stat); }
        finally { Leave(); }
    }

    public int Xattr(FuseRequest request, nuint size)
    {
        if (!Enter())
            return 0;
        try { return inner.Xattr(request, size); }
        finally { Leave(); }
    }
}
