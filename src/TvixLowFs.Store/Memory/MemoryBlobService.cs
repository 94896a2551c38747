using System.Buffers;
using System.Collections.Concurrent;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Memory;

/// <summary><c>memory://</c> blobs: byte arrays in a concurrent dictionary, gone with the process.</summary>
public sealed class MemoryBlobService : IBlobService
{
    private readonly ConcurrentDictionary<B3Digest, byte[]> _blobs = new();

    public ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_blobs.TryGetValue(digest, out byte[]? data) ? data.LongLength : (long?)null);

    public ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_blobs.TryGetValue(digest, out byte[]? data) ? new ArrayBlobReader(data) : (BlobReader?)null);

    public BlobWriter OpenWrite() => new Writer(this);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class ArrayBlobReader(byte[] data) : BlobReader
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

    private sealed class Writer(MemoryBlobService service) : BlobWriter
    {
        private readonly ArrayBufferWriter<byte> _buffer = new();
        private readonly Blake3Hasher _hasher = new();
        private bool _done;

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            _hasher.Update(data.Span);
            _buffer.Write(data.Span);
            return ValueTask.CompletedTask;
        }

        public override ValueTask<B3Digest> CloseAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            _done = true;
            B3Digest digest = _hasher.Finish();
            service._blobs.TryAdd(digest, _buffer.WrittenSpan.ToArray());
            return ValueTask.FromResult(digest);
        }

        public override ValueTask DisposeAsync()
        {
            _done = true;
            return ValueTask.CompletedTask;
        }
    }
}
