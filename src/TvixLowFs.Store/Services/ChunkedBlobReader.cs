using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Services;

/// <summary>
/// A blob served by ranges from its chunks: a read opens only the chunks it touches (each verified
/// against its own digest by whoever opens it). Once the reader has gone through the chunks in
/// order, from the first to the last, it has hashed them all and checks the whole against the
/// blob's digest: a chunk list that does not add up to the blob fails that last read (EIO in a
/// mount) and every read after it. A ranged read in between trusts the list, as snix's does.
/// Reading in order also starts the next chunks early, so a sequential reader does not wait for
/// one round trip per chunk.
/// </summary>
public sealed class ChunkedBlobReader : BlobReader
{
    /// <summary>Chunks started ahead of a reader that reads in order.</summary>
    public const int SequentialReadAhead = 4;

    /// <summary>Blobs at least this large are read by ranges when their store lists several chunks.</summary>
    public const long MinimumBlobSize = 8L << 20;

    /// <summary>
    /// How every service opens a blob of known size: by ranges when it is large and its store lists
    /// several chunks, else with <paramref name="whole"/> (a small blob, or one that is its own only
    /// chunk); null when the blob is absent.
    /// </summary>
    public static async ValueTask<BlobReader?> OpenAsync(B3Digest digest, long size, IBlobChunkSource source,
        Func<CancellationToken, ValueTask<BlobReader?>> whole,
        Func<BlobChunkInfo, CancellationToken, ValueTask<BlobReader>> openChunk, Func<BlobChunkInfo, Task>? prefetchChunk,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(whole);
        if (size < MinimumBlobSize)
            return await whole(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<BlobChunkInfo>? chunks = await source.StatChunksAsync(digest, cancellationToken).ConfigureAwait(false);
        if (chunks is null)
            return null;
        if (chunks.Count < 2)
            return await whole(cancellationToken).ConfigureAwait(false);
        return new ChunkedBlobReader(digest, chunks, openChunk, prefetchChunk);
    }

    private readonly B3Digest _digest;
    private readonly BlobChunkInfo[] _chunks;
    private readonly long[] _starts;
    private readonly Func<BlobChunkInfo, CancellationToken, ValueTask<BlobReader>> _openChunk;
    private readonly Func<BlobChunkInfo, Task>? _prefetchChunk;
    private readonly Lock _gate = new();
    private readonly Blake3Hasher _hasher = new();
    // The next chunk to hash for the whole-blob check.
    private int _nextToHash;
    private int _lastTouched = -1;
    private int _prefetchedUpTo = -1;
    private string? _failure;
    private bool _disposed;

    /// <param name="openChunk">Opens one chunk, verified; never null (a missing chunk throws).</param>
    /// <param name="prefetchChunk">Starts a chunk's fetch in the background, or null for none.</param>
    public ChunkedBlobReader(B3Digest digest, IReadOnlyList<BlobChunkInfo> chunks,
        Func<BlobChunkInfo, CancellationToken, ValueTask<BlobReader>> openChunk, Func<BlobChunkInfo, Task>? prefetchChunk = null)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        _digest = digest;
        _chunks = [.. chunks];
        _starts = new long[_chunks.Length + 1];
        for (int i = 0; i < _chunks.Length; i++)
        {
            if (_chunks[i].Size <= 0)
                throw new StoreValidationException($"blob {digest}: chunk {i} has size {_chunks[i].Size}");
            _starts[i + 1] = checked(_starts[i] + _chunks[i].Size);
        }
        _openChunk = openChunk;
        _prefetchChunk = prefetchChunk;
    }

    public override long Length => _starts[^1];

    public override async ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        int total = 0;
        while (total < buffer.Length && offset + total < Length)
        {
            long position = offset + total;
            int index = ChunkAt(position);
            OpenChunk chunk = await AcquireAsync(index, cancellationToken).ConfigureAwait(false);
            try
            {
                long within = position - _starts[index];
                int wanted = (int)Math.Min(buffer.Length - total, _chunks[index].Size - within);
                int read = await chunk.Reader.ReadAtAsync(within, buffer.Slice(total, wanted), cancellationToken).ConfigureAwait(false);
                if (read <= 0)
                    throw new StoreUnavailableException($"blob {_digest}: chunk {_chunks[index].Digest} ended early at {within} of {_chunks[index].Size} bytes");
                total += read;
            }
            finally
            {
                Release(chunk);
            }
        }
        return total;
    }

    private int ChunkAt(long position)
    {
        int found = Array.BinarySearch(_starts, position);
        return found >= 0 ? found : ~found - 1;
    }

    /// <summary>An opened chunk, counted by the reads using it; closed once evicted and unused.</summary>
    private sealed class OpenChunk(int index, BlobReader reader)
    {
        public int Index { get; } = index;
        public BlobReader Reader { get; } = reader;
        public int Users;
        public bool Evicted;
    }

    /// <summary>Chunks kept open, most recent last: reads mostly fall in the chunk of the read before them.</summary>
    private readonly List<OpenChunk> _open = [];

    private async ValueTask<OpenChunk> AcquireAsync(int index, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_failure is not null)
                throw new StoreValidationException(_failure);
            if (Find(index) is { } open)
            {
                open.Users++;
                return open;
            }
        }
        BlobReader opened = await _openChunk(_chunks[index], cancellationToken).ConfigureAwait(false);
        if (opened.Length != _chunks[index].Size)
        {
            opened.Dispose();
            throw new StoreValidationException($"blob {_digest}: chunk {_chunks[index].Digest} has {opened.Length} bytes, its list says {_chunks[index].Size}");
        }
        OpenChunk chunk;
        bool inOrder;
        lock (_gate)
        {
            if (_disposed)
            {
                opened.Dispose();
                throw new ObjectDisposedException(nameof(ChunkedBlobReader));
            }
            if (Find(index) is { } raced)
            {
                opened.Dispose(); // a concurrent read opened it first
                chunk = raced;
            }
            else
            {
                chunk = new OpenChunk(index, opened);
                _open.Add(chunk);
                while (_open.Count > SequentialReadAhead)
                {
                    OpenChunk oldest = _open[0];
                    _open.RemoveAt(0);
                    oldest.Evicted = true;
                    if (oldest.Users == 0)
                        oldest.Reader.Dispose();
                }
            }
            chunk.Users++;
            inOrder = index == _lastTouched + 1;
            _lastTouched = index;
        }
        try
        {
            if (index == Volatile.Read(ref _nextToHash))
                await HashInOrderAsync(index, chunk.Reader, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Release(chunk);
            throw;
        }
        if (inOrder && index > 0)
            StartReadAhead(index);
        return chunk;
    }

    private OpenChunk? Find(int index)
    {
        for (int i = _open.Count - 1; i >= 0; i--)
        {
            if (_open[i].Index == index)
                return _open[i];
        }
        return null;
    }

    private void Release(OpenChunk chunk)
    {
        lock (_gate)
        {
            if (--chunk.Users == 0 && chunk.Evicted)
                chunk.Reader.Dispose();
        }
    }

    private void StartReadAhead(int index)
    {
        if (_prefetchChunk is null)
            return;
        int from, to;
        lock (_gate)
        {
            from = Math.Max(index + 1, _prefetchedUpTo + 1);
            to = Math.Min(_chunks.Length - 1, index + SequentialReadAhead);
            if (from > to)
                return;
            _prefetchedUpTo = to;
        }
        for (int i = from; i <= to; i++)
            _ = _prefetchChunk(_chunks[i]).ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Hashes chunk <paramref name="index"/> into the whole-blob check when it is the next in order.</summary>
    private async ValueTask HashInOrderAsync(int index, BlobReader chunk, CancellationToken cancellationToken)
    {
        int length = (int)_chunks[index].Size;
        byte[] bytes = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        try
        {
            for (int done = 0; done < length;)
            {
                int read = await chunk.ReadAtAsync(done, bytes.AsMemory(done, length - done), cancellationToken).ConfigureAwait(false);
                if (read <= 0)
                    throw new StoreUnavailableException($"blob {_digest}: chunk {_chunks[index].Digest} ended early");
                done += read;
            }
            HashNext(index, bytes.AsSpan(0, length));
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private void HashNext(int index, ReadOnlySpan<byte> bytes)
    {
        lock (_gate)
        {
            if (index != _nextToHash)
                return; // a concurrent read of the same chunk hashed it
            _hasher.Update(bytes);
            _nextToHash++;
            if (_nextToHash < _chunks.Length)
                return;
            B3Digest whole = _hasher.Finish();
            if (whole == _digest)
                return;
            _failure = $"blob {_digest}: its {_chunks.Length} chunks hash to {whole}; the chunk list is wrong, nothing more is served";
            throw new StoreValidationException(_failure);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (!disposing)
            return;
        lock (_gate)
        {
            _disposed = true;
            foreach (OpenChunk chunk in _open)
            {
                chunk.Evicted = true;
                if (chunk.Users == 0)
                    chunk.Reader.Dispose();
            }
            _open.Clear();
        }
    }
}
