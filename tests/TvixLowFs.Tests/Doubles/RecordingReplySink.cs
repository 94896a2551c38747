using System.Collections.Concurrent;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// Test double for the kernel side: records every reply by request handle (and any second reply
/// to the same request), so handler code can be driven directly, including its async paths.
/// </summary>
internal sealed class RecordingReplySink : IFuseReplySink
{
    private long _nextRequest = 1000;

    public sealed record Reply(string Kind, int Errno = 0, ulong Ino = 0, byte[]? Data = null, nuint Size = 0, FuseFileInfo FileInfo = default, int BackingId = 0);

    public ConcurrentDictionary<nint, Reply> Replies { get; } = new();

    public ConcurrentQueue<nint> DoubleReplies { get; } = new();

    public FuseRequest NewRequest() => new((nint)Interlocked.Increment(ref _nextRequest));

    /// <summary>The reply to <paramref name="request"/>, waiting for an asynchronous one up to 30 s.</summary>
    public Reply WaitFor(FuseRequest request)
    {
        var spin = new SpinWait();
        DateTime giveUp = DateTime.UtcNow.AddSeconds(30);
        while (!Replies.ContainsKey(request.Handle))
        {
            if (DateTime.UtcNow > giveUp)
                throw new TimeoutException($"request {request.Handle} got no reply");
            spin.SpinOnce();
        }
        return Replies[request.Handle];
    }

    public bool HasReply(FuseRequest request) => Replies.ContainsKey(request.Handle);

    private int Record(FuseRequest request, Reply reply)
    {
        if (!Replies.TryAdd(request.Handle, reply))
            DoubleReplies.Enqueue(request.Handle);
        return 0;
    }

    public int Entry(FuseRequest request, in FuseEntryParam entry) => Record(request, new Reply("entry", Ino: entry.Ino));
    public int Attr(FuseRequest request, in Stat attr, double timeout) => Record(request, new Reply("attr", Ino: attr.Ino));
    public int Err(FuseRequest request, int errno) => Record(request, new Reply("err", Errno: errno));
    public void None(FuseRequest request) => Record(request, new Reply("none"));
    public int Buf(FuseRequest request, ReadOnlySpan<byte> data) => Record(request, new Reply("buf", Data: data.ToArray()));
    public int Data(FuseRequest request, ref FuseBufVec buffers, FuseBufCopyFlags flags) => Record(request, new Reply("data", Size: buffers.Buf.Size));
    public int Open(FuseRequest request, in FuseFileInfo fileInfo) => Record(request, new Reply("open", FileInfo: fileInfo));
    public int OpenPassthrough(FuseRequest request, in FuseFileInfo fileInfo, int backingId) => Record(request, new Reply("open-passthrough", FileInfo: fileInfo, BackingId: backingId));
    public int ReadLink(FuseRequest request, ReadOnlySpan<byte> target) => Record(request, new Reply("readlink", Data: target.ToArray()));
    public int StatFs(FuseRequest request, in StatVfs stat) => Record(request, new Reply("statfs"));
    public int Xattr(FuseRequest request, nuint size) => Record(request, new Reply("xattr", Size: size));
}

/// <summary>Test double that only counts replies, without allocating (for the allocation test).</summary>
internal sealed class CountingReplySink : IFuseReplySink
{
    public int Count;
    public int LastErrno;
    public ulong LastIno;

    public int Entry(FuseRequest request, in FuseEntryParam entry) { LastIno = entry.Ino; LastErrno = 0; Interlocked.Increment(ref Count); return 0; }
    public int Attr(FuseRequest request, in Stat attr, double timeout) { Count++; LastErrno = 0; return 0; }
    public int Err(FuseRequest request, int errno) { Count++; LastErrno = errno; return 0; }
    public void None(FuseRequest request) => Count++;
    public int Buf(FuseRequest request, ReadOnlySpan<byte> data) { Count++; LastErrno = data.IsEmpty ? -1 : 0; return 0; }
    public int Data(FuseRequest request, ref FuseBufVec buffers, FuseBufCopyFlags flags) { Count++; LastErrno = 0; return 0; }
    public int Open(FuseRequest request, in FuseFileInfo fileInfo) { Count++; LastErrno = 0; return 0; }
    public int OpenPassthrough(FuseRequest request, in FuseFileInfo fileInfo, int backingId) { Count++; LastErrno = 0; return 0; }
    public int ReadLink(FuseRequest request, ReadOnlySpan<byte> target) { Count++; LastErrno = 0; return 0; }
    public int StatFs(FuseRequest request, in StatVfs stat) { Count++; LastErrno = 0; return 0; }
    public int Xattr(FuseRequest request, nuint size) { Count++; LastErrno = 0; return 0; }
}
