namespace TvixLowFs.Tests.BinaryCache.Nar;

/// <summary>
/// A read-only stream over bytes that hands out at most a few bytes per read (sizes from a seeded
/// sequence), optionally yielding first so every read completes asynchronously: how a slow
/// decompressor or network stream delivers a NAR, to exercise every refill path of the reader.
/// </summary>
internal sealed class TricklingStream(byte[] data, int maxChunk, bool yieldEachRead = false, int seed = 1) : Stream
{
    private readonly Random _sizes = new(seed);
    private int _position;

    /// <summary>How many bytes have been handed out.</summary>
    public int BytesRead => _position;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = Math.Min(Math.Min(buffer.Length, _sizes.Next(1, maxChunk + 1)), data.Length - _position);
        data.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (yieldEachRead)
            await Task.Yield();
        cancellationToken.ThrowIfCancellationRequested();
        return Read(buffer.Span);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
