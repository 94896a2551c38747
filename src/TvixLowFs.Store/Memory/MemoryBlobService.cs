using System.Collections.Concurrent;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Memory;

/// <summary><c>memory://</c> blobs: byte segments in a concurrent dictionary, gone with the process.</summary>
public sealed class MemoryBlobService : IBlobService
{
    private readonly ConcurrentDictionary<B3Digest, BlobSegments> _blobs = new();

    public ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_blobs.TryGetValue(digest, out BlobSegments? data) ? data.Length : (long?)null);

    public ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_blobs.TryGetValue(digest, out BlobSegments? data) ? new SegmentsReader(data) : (BlobReader?)null);

    public BlobWriter OpenWrite() => new Writer(this);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class SegmentsReader(BlobSegments data) : BlobReader
    {
        public override long Length => data.Length;

        public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            return ValueTask.FromResult(data.CopyTo(offset, buffer.Span));
        }
    }

    /// <summary>
    /// Fills segments as bytes arrive and keeps them as they are on close: a blob never occupies
    /// more than its size plus one segment, and is never copied (a growing array would double
    /// and then be copied again into an exact one).
    /// </summary>
    private sealed class Writer(MemoryBlobService service) : BlobWriter
    {
        private readonly BlobSegments _segments = new();
        private readonly Blake3Hasher _hasher = new();
        private bool _done;

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            _hasher.Update(data.Span);
            _segments.Append(data.Span);
            return ValueTask.CompletedTask;
        }

        public override ValueTask<B3Digest> CloseAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            _done = true;
            B3Digest digest = _hasher.Finish();
            service._blobs.TryAdd(digest, _segments);
            return ValueTask.FromResult(digest);
        }

        public override ValueTask DisposeAsync()
        {
            _done = true;
            return ValueTask.CompletedTask;
        }
    }
}
