using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace TvixLowFs.NarBridge;

/// <summary>
/// Where a rendered NAR goes: the response's pipe, keeping only the bytes of the range asked for
/// (<c>[start, end)</c> of the whole archive) and counting the rest. <see cref="NarWriter"/>'s
/// small synchronous token writes are copied into the pipe's buffer; file contents, written
/// asynchronously, flush it once <see cref="FlushThreshold"/> bytes are waiting, so the socket's
/// pace holds the renderer back and nothing but the pipe's own buffers is allocated per chunk.
/// File contents wholly inside the range are read straight into the pipe's memory
/// (<see cref="MemoryFor"/>): their write then only advances the pipe, with no copy.
/// </summary>
internal sealed class NarResponseStream(PipeWriter pipe, long start, long end) : Stream
{
    /// <summary>
    /// How much waits before it is handed to the socket: as much as Kestrel buffers per response
    /// (NarBridgeHost sets 1 MiB). A flush that has to wait for the socket costs Kestrel an
    /// allocation of about half a KiB; once per MiB, not once per 256 KiB chunk.
    /// </summary>
    public const int FlushThreshold = 1024 * 1024;

    private long _position;
    private long _unflushed;
    private Memory<byte> _lent;

    /// <summary>True when the next <paramref name="length"/> bytes fall wholly outside the range (a
    /// blob there need not be read: any bytes of its length will do).</summary>
    public bool Skips(ulong length) => _position >= end || _position + (long)length <= start;

    /// <summary>True once every byte of the range has been passed on.</summary>
    public bool PastRange => _position >= end;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    /// <summary>
    /// Where to read the next up to <paramref name="length"/> bytes of file contents: the pipe's own
    /// memory when they all belong to the range (the <see cref="Write"/> of exactly that memory then
    /// commits it without copying), else <paramref name="fallback"/>.
    /// </summary>
    public Memory<byte> MemoryFor(int length, Memory<byte> fallback)
    {
        if (_position < start || _position + length > end)
            return fallback[..length];
        _lent = pipe.GetMemory(length);
        return _lent = _lent[..Math.Min(length, _lent.Length)];
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (!_lent.IsEmpty)
        {
            Memory<byte> lent = _lent;
            _lent = default;
            if (buffer.Length <= lent.Length && Unsafe.AreSame(ref MemoryMarshal.GetReference(buffer), ref MemoryMarshal.GetReference(lent.Span)))
            {
                // Already in place (and wholly inside the range, or it would not have been lent).
                pipe.Advance(buffer.Length);
                _unflushed += buffer.Length;
                _position += buffer.Length;
                return;
            }
        }
        long from = Math.Max(_position, start), to = Math.Min(_position + buffer.Length, end);
        if (to > from)
        {
            pipe.Write(buffer.Slice((int)(from - _position), (int)(to - from)));
            _unflushed += to - from;
        }
        _position += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return FlushIfFullAsync(cancellationToken);
    }

    /// <summary>Hands what is waiting to the socket once there is enough of it (the renderer calls this between files, too).</summary>
    public ValueTask FlushIfFullAsync(CancellationToken cancellationToken) =>
        _unflushed >= FlushThreshold ? FlushPipeAsync(cancellationToken) : ValueTask.CompletedTask;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask FlushPipeAsync(CancellationToken cancellationToken)
    {
        _unflushed = 0;
        FlushResult result = await pipe.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCanceled || result.IsCompleted)
            throw new OperationCanceledException("the client stopped reading the NAR");
    }

    public override void Flush() { }
    public override Task FlushAsync(CancellationToken cancellationToken) => FlushPipeAsync(cancellationToken).AsTask();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
