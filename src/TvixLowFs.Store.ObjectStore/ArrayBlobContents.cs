using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>A small blob's bytes in one array.</summary>
internal sealed class ArrayBlobContents(int size) : BlobContents
{
    private readonly byte[] _data = new byte[size];

    public override void Write(long offset, ReadOnlySpan<byte> data) => data.CopyTo(_data.AsSpan((int)offset));

    public override BlobReader Reader() => new ArrayReader(_data);

    public override void Dispose() { }

    /// <summary>A reader over bytes already fetched and verified.</summary>
    public static BlobReader Filled(byte[] data) => new ArrayReader(data);

    private sealed class ArrayReader(byte[] data) : BlobReader
    {
        public override long Length => data.LongLength;

        public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            if (offset >= data.LongLength)
                return ValueTask.FromResult(0);
            int count = (int)Math.Min(buffer.Length, data.LongLength - offset);
            data.AsSpan((int)offset, count).CopyTo(buffer.Span);
            return ValueTask.FromResult(count);
        }
    }
}
