using System.Runtime.CompilerServices;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// The real <see cref="IFuseReplySink"/>: each call is one <c>fuse_reply_*</c>, usable from any
/// thread. Return values are libfuse's (0 or -errno, e.g. -ENOENT if the kernel dropped an
/// interrupted request); the request is dead afterwards either way.
/// One sink per session (<see cref="FuseMountOptions.Replies"/>): the session closes it after
/// <see cref="IFuseOperations.Destroy"/>, before it closes /dev/fuse and frees libfuse's session,
/// and a late reply (a backend answering after unmount) is then dropped (returns 0) instead of
/// touching freed memory or a closed, maybe reused, descriptor.
/// </summary>
public sealed unsafe class KernelReplySink : IFuseReplySink
{
    /// <summary>A sink no session closes (for test doubles that outlive nothing).</summary>
    public static KernelReplySink Instance { get; } = new();

    private volatile bool _closed;
    private int _replying;

    /// <summary>
    /// Drops every later reply and waits (briefly: a reply is one write) for those in progress, so
    /// none is still writing when the channel closes.
    /// </summary>
    internal void Close()
    {
        _closed = true;
        var spin = new SpinWait();
        long giveUp = Environment.TickCount64 + 5000;
        while (Volatile.Read(ref _replying) > 0 && Environment.TickCount64 < giveUp)
            spin.SpinOnce();
    }

    // Counted before the check: a reply either sees the sink closed, or Close sees it in progress.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Enter(FuseRequest request)
    {
        Interlocked.Increment(ref _replying);
        if (_closed)
        {
            Interlocked.Decrement(ref _replying);
            return false;
        }
        // Lets the entry point know not to answer again if the handler throws after this.
        FuseEntryPoints.LastAnsweredRequest = request.Handle;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Leave() => Interlocked.Decrement(ref _replying);

    public int Entry(FuseRequest request, in FuseEntryParam entry)
    {
        if (!Enter(request)) return 0;
        try { fixed (FuseEntryParam* e = &entry) return LibFuse.ReplyEntry(request.Handle, e); }
        finally { Leave(); }
    }

    public int Attr(FuseRequest request, in Stat attr, double timeout)
    {
        if (!Enter(request)) return 0;
        try { fixed (Stat* a = &attr) return LibFuse.ReplyAttr(request.Handle, a, timeout); }
        finally { Leave(); }
    }

    public int Err(FuseRequest request, int errno)
    {
        if (!Enter(request)) return 0;
        try { return LibFuse.ReplyErr(request.Handle, errno); }
        finally { Leave(); }
    }

    public void None(FuseRequest request)
    {
        if (!Enter(request)) return;
        try { LibFuse.ReplyNone(request.Handle); }
        finally { Leave(); }
    }

    public int Buf(FuseRequest request, ReadOnlySpan<byte> data)
    {
        if (!Enter(request)) return 0;
        try { fixed (byte* d = data) return LibFuse.ReplyBuf(request.Handle, d, (nuint)data.Length); }
        finally { Leave(); }
    }

    /// <summary>
    /// fuse_reply_data: with an fd-backed buffer (<see cref="FuseBufFlags.IsFd"/> |
    /// <see cref="FuseBufFlags.FdSeek"/>, <see cref="FuseBuf.Pos"/> = file offset) libfuse splices
    /// from the file to /dev/fuse when the kernel allows it (FUSE_CAP_SPLICE_WRITE wanted), else it
    /// reads into its own buffer. <see cref="FileBuffer"/> builds such a vector.
    /// </summary>
    public int Data(FuseRequest request, ref FuseBufVec buffers, FuseBufCopyFlags flags)
    {
        if (!Enter(request)) return 0;
        try { fixed (FuseBufVec* b = &buffers) return LibFuse.ReplyData(request.Handle, b, flags); }
        finally { Leave(); }
    }

    public int Open(FuseRequest request, in FuseFileInfo fileInfo)
    {
        if (!Enter(request)) return 0;
        try { fixed (FuseFileInfo* f = &fileInfo) return LibFuse.ReplyOpen(request.Handle, f); }
        finally { Leave(); }
    }

    /// <summary>
    /// fuse_reply_open cannot carry a backing id (libfuse 3.14 predates passthrough), so the
    /// fuse_open_out is built here and sent as the reply's payload with fuse_reply_iov.
    /// </summary>
    public int OpenPassthrough(FuseRequest request, in FuseFileInfo fileInfo, int backingId)
    {
        var reply = new FuseOpenOut
        {
            Fh = fileInfo.Fh,
            // The kernel refuses a passthrough open with any flag outside FOPEN_PASSTHROUGH_MASK
            // (KEEP_CACHE among them: the page cache used is the backing file's own).
            OpenFlags = FuseKernel.OpenPassthrough | (fileInfo.Noflush ? FuseKernel.OpenNoFlush : 0),
            BackingId = backingId,
        };
        var vector = new IoVec { Base = &reply, Length = (nuint)sizeof(FuseOpenOut) };
        if (!Enter(request)) return 0;
        try { return LibFuse.ReplyIov(request.Handle, &vector, 1); }
        finally { Leave(); }
    }

    public int ReadLink(FuseRequest request, ReadOnlySpan<byte> target)
    {
        if (target.IsEmpty || target[^1] != 0)
        {
            throw new ArgumentException("readlink target must be NUL-terminated", nameof(target));
        }
        if (!Enter(request)) return 0;
        try { fixed (byte* t = target) return LibFuse.ReplyReadLink(request.Handle, t); }
        finally { Leave(); }
    }

    public int StatFs(FuseRequest request, in StatVfs stat)
    {
        if (!Enter(request)) return 0;
        try { fixed (StatVfs* s = &stat) return LibFuse.ReplyStatFs(request.Handle, s); }
        finally { Leave(); }
    }

    public int Xattr(FuseRequest request, nuint size)
    {
        if (!Enter(request)) return 0;
        try { return LibFuse.ReplyXattr(request.Handle, size); }
        finally { Leave(); }
    }

    /// <summary>fuse_reply_iov: several memory ranges as one reply (no gather copy on our side).</summary>
    internal int Iov(FuseRequest request, ReadOnlySpan<IoVec> vectors)
    {
        if (!Enter(request)) return 0;
        try { fixed (IoVec* v = vectors) return LibFuse.ReplyIov(request.Handle, v, vectors.Length); }
        finally { Leave(); }
    }

    /// <summary>A one-buffer vector reading <paramref name="size"/> bytes of <paramref name="fd"/> at <paramref name="position"/> (for <see cref="Data"/>).</summary>
    public static FuseBufVec FileBuffer(int fd, long position, nuint size) => new()
    {
        Count = 1,
        Buf = new FuseBuf
        {
            Size = size,
            Flags = FuseBufFlags.IsFd | FuseBufFlags.FdSeek | FuseBufFlags.FdRetry,
            Fd = fd,
            Pos = position,
        },
    };

    /// <summary>A one-buffer vector over memory the caller keeps pinned until <see cref="Data"/> returns.</summary>
    public static FuseBufVec MemoryBuffer(void* memory, nuint size) => new()
    {
        Count = 1,
        Buf = new FuseBuf { Size = size, Mem = memory },
    };
}
