using System.Runtime.CompilerServices;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// The real <see cref="IFuseReplySink"/>: each call is one <c>fuse_reply_*</c>, usable from any
/// thread. Return values are libfuse's (0 or -errno, e.g. -ENOENT if the kernel dropped an
/// interrupted request); the request is dead afterwards either way.
/// </summary>
public sealed unsafe class KernelReplySink : IFuseReplySink
{
    public static KernelReplySink Instance { get; } = new();

    private KernelReplySink() { }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint Answer(FuseRequest request)
    {
        // Lets the entry point know not to answer again if the handler throws after this.
        FuseEntryPoints.LastAnsweredRequest = request.Handle;
        return request.Handle;
    }

    public int Entry(FuseRequest request, in FuseEntryParam entry)
    {
        fixed (FuseEntryParam* e = &entry) return LibFuse.ReplyEntry(Answer(request), e);
    }

    public int Attr(FuseRequest request, in Stat attr, double timeout)
    {
        fixed (Stat* a = &attr) return LibFuse.ReplyAttr(Answer(request), a, timeout);
    }

    public int Err(FuseRequest request, int errno) => LibFuse.ReplyErr(Answer(request), errno);

    public void None(FuseRequest request) => LibFuse.ReplyNone(Answer(request));

    public int Buf(FuseRequest request, ReadOnlySpan<byte> data)
    {
        fixed (byte* d = data) return LibFuse.ReplyBuf(Answer(request), d, (nuint)data.Length);
    }

    /// <summary>
    /// fuse_reply_data: with an fd-backed buffer (<see cref="FuseBufFlags.IsFd"/> |
    /// <see cref="FuseBufFlags.FdSeek"/>, <see cref="FuseBuf.Pos"/> = file offset) libfuse splices
    /// from the file to /dev/fuse when the kernel allows it (FUSE_CAP_SPLICE_WRITE wanted), else it
    /// reads into its own buffer. <see cref="FileBuffer"/> builds such a vector.
    /// </summary>
    public int Data(FuseRequest request, ref FuseBufVec buffers, FuseBufCopyFlags flags)
    {
        fixed (FuseBufVec* b = &buffers) return LibFuse.ReplyData(Answer(request), b, flags);
    }

    public int Open(FuseRequest request, in FuseFileInfo fileInfo)
    {
        fixed (FuseFileInfo* f = &fileInfo) return LibFuse.ReplyOpen(Answer(request), f);
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
        return LibFuse.ReplyIov(Answer(request), &vector, 1);
    }

    public int ReadLink(FuseRequest request, ReadOnlySpan<byte> target)
    {
        if (target.IsEmpty || target[^1] != 0)
        {
            throw new ArgumentException("readlink target must be NUL-terminated", nameof(target));
        }
        fixed (byte* t = target) return LibFuse.ReplyReadLink(Answer(request), t);
    }

    public int StatFs(FuseRequest request, in StatVfs stat)
    {
        fixed (StatVfs* s = &stat) return LibFuse.ReplyStatFs(Answer(request), s);
    }

    public int Xattr(FuseRequest request, nuint size) => LibFuse.ReplyXattr(Answer(request), size);

    /// <summary>fuse_reply_iov: several memory ranges as one reply (no gather copy on our side).</summary>
    public int Iov(FuseRequest request, ReadOnlySpan<IoVec> vectors)
    {
        fixed (IoVec* v = vectors) return LibFuse.ReplyIov(Answer(request), v, vectors.Length);
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
