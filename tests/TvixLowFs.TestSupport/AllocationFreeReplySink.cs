using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.TestSupport;

/// <summary>Which <c>fuse_reply_*</c> a <see cref="AllocationFreeReplySink"/> saw last.</summary>
public enum RecordedReply
{
    Nothing,
    Entry,
    Attr,
    Err,
    None,
    Buf,
    Data,
    Open,
    OpenPassthrough,
    ReadLink,
    StatFs,
    Xattr,
}

/// <summary>
/// A test and benchmark double for the kernel side of <see cref="IFuseReplySink"/>: it records
/// each reply instead of calling <c>fuse_reply_*</c>, so benchmarks and allocation tests can drive
/// the very same handler code the kernel path runs. It allocates nothing per reply: payloads
/// (<see cref="Buf"/> and <see cref="ReadLink"/> bytes) are copied into one buffer sized up front,
/// and an fd-backed <see cref="FuseBufVec"/> given to <see cref="Data"/> is recorded as is (its
/// descriptor is not read). <see cref="Count"/> is exact under concurrent replies; the <c>Last*</c>
/// fields describe the latest reply and are only meaningful when one thread replies at a time.
/// It checks the same argument contracts <see cref="KernelReplySink"/> does.
/// </summary>
public sealed class AllocationFreeReplySink : IFuseReplySink
{
    private readonly byte[] _payload;
    private long _count;

    /// <param name="payloadCapacity">The largest Buf / readlink payload kept (longer ones are cut; <see cref="LastLength"/> keeps the real length).</param>
    public AllocationFreeReplySink(int payloadCapacity = 1 << 20)
    {
        _payload = new byte[payloadCapacity];
    }

    /// <summary>Replies recorded so far (every kind).</summary>
    public long Count => Volatile.Read(ref _count);

    public RecordedReply LastKind { get; private set; }
    public nint LastRequest { get; private set; }
    public int LastErrno { get; private set; }
    public FuseEntryParam LastEntry { get; private set; }
    public Stat LastAttr { get; private set; }
    public double LastAttrTimeout { get; private set; }
    public FuseFileInfo LastFileInfo { get; private set; }
    public int LastBackingId { get; private set; }
    public StatVfs LastStatFs { get; private set; }
    public FuseBufVec LastBuffers { get; private set; }
    public FuseBufCopyFlags LastCopyFlags { get; private set; }

    /// <summary>The byte count of the last Buf / ReadLink payload, or the size of the last Xattr reply.</summary>
    public long LastLength { get; private set; }

    /// <summary>The last Buf / ReadLink payload (readlink with its NUL), cut at the capacity.</summary>
    public ReadOnlySpan<byte> LastPayload => _payload.AsSpan(0, (int)Math.Min(LastLength, _payload.Length));

    private int Record(FuseRequest request, RecordedReply kind, int errno = 0)
    {
        LastRequest = request.Handle;
        LastKind = kind;
        LastErrno = errno;
        Interlocked.Increment(ref _count);
        return 0;
    }

    private void Keep(ReadOnlySpan<byte> payload)
    {
        payload[..Math.Min(payload.Length, _payload.Length)].CopyTo(_payload);
        LastLength = payload.Length;
    }

    public int Entry(FuseRequest request, in FuseEntryParam entry)
    {
        LastEntry = entry;
        return Record(request, RecordedReply.Entry);
    }

    public int Attr(FuseRequest request, in Stat attr, double timeout)
    {
        LastAttr = attr;
        LastAttrTimeout = timeout;
        return Record(request, RecordedReply.Attr);
    }

    public int Err(FuseRequest request, int errno) => Record(request, RecordedReply.Err, errno);

    public void None(FuseRequest request) => Record(request, RecordedReply.None);

    public int Buf(FuseRequest request, ReadOnlySpan<byte> data)
    {
        Keep(data);
        return Record(request, RecordedReply.Buf);
    }

    public int Data(FuseRequest request, ref FuseBufVec buffers, FuseBufCopyFlags flags)
    {
        LastBuffers = buffers;
        LastCopyFlags = flags;
        LastLength = (long)buffers.Buf.Size;
        return Record(request, RecordedReply.Data);
    }

    public int Open(FuseRequest request, in FuseFileInfo fileInfo)
    {
        LastFileInfo = fileInfo;
        return Record(request, RecordedReply.Open);
    }

    public int OpenPassthrough(FuseRequest request, in FuseFileInfo fileInfo, int backingId)
    {
        if (backingId <= 0)
            throw new ArgumentOutOfRangeException(nameof(backingId), "a passthrough open needs a registered backing id");
        LastFileInfo = fileInfo;
        LastBackingId = backingId;
        return Record(request, RecordedReply.OpenPassthrough);
    }

    public int ReadLink(FuseRequest request, ReadOnlySpan<byte> target)
    {
        if (target.IsEmpty || target[^1] != 0)
            throw new ArgumentException("readlink target must be NUL-terminated", nameof(target));
        Keep(target);
        return Record(request, RecordedReply.ReadLink);
    }

    public int StatFs(FuseRequest request, in StatVfs stat)
    {
        LastStatFs = stat;
        return Record(request, RecordedReply.StatFs);
    }

    public int Xattr(FuseRequest request, nuint size)
    {
        LastLength = (long)size;
        return Record(request, RecordedReply.Xattr);
    }

    /// <summary>Waits (spinning, then sleeping) until more than <paramref name="count"/> replies were recorded; false on timeout.</summary>
    public bool WaitForCountAbove(long count, TimeSpan timeout)
    {
        var spin = new SpinWait();
        long giveUp = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (Count <= count)
        {
            if (Environment.TickCount64 > giveUp)
                return false;
            spin.SpinOnce(sleep1Threshold: 20);
        }
        return true;
    }
}
