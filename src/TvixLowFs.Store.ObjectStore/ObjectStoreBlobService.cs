using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>
/// Blobs in a bucket: each cut with <see cref="FastCdc"/> into chunks stored zstd-compressed once
/// under <c>chunks/</c> (by their own BLAKE3), then the blob's chunk list (a StatBlobResponse) under
/// <c>blobs/</c>, written last so a listed blob always has its chunks. A read fetches the chunks,
/// checks each against its digest and the whole against the blob's, and serves nothing that fails.
/// A large blob opened with its size known is served by ranges (<see cref="ChunkedBlobReader"/>):
/// only the chunks read are fetched. A chunk is also readable by its own digest (tvix's rule for
/// <c>Read</c>), which is how a client holding the chunk list fetches one.
/// </summary>
public sealed class ObjectStoreBlobService(ObjectStoreBucket bucket) : IBlobService, IBlobChunkSource
{
    /// <summary>Chunk uploads or downloads one blob keeps in flight.</summary>
    internal const int ParallelTransfers = 4;

    /// <summary>Blobs up to this size are read into memory; larger ones into an unlinked temp file.</summary>
    internal const long InMemoryLimit = 4 * 1024 * 1024;

    internal ObjectStoreBucket Bucket { get; } = bucket;

    internal FastCdc Chunker { get; } = new();

    public async ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        List<ChunkMeta>? chunks = await ChunkListAsync(digest, cancellationToken).ConfigureAwait(false);
        return chunks is null ? null : TotalSize(chunks);
    }

    public async ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        List<ChunkMeta>? chunks = await ChunkListAsync(digest, cancellationToken).ConfigureAwait(false);
        if (chunks is null)
            return await OpenChunkByDigestAsync(digest, cancellationToken).ConfigureAwait(false);
        long size = TotalSize(chunks);
        BlobContents contents = size <= InMemoryLimit ? new ArrayBlobContents((int)size) : FileBlobContents.Create(size);
        try
        {
            await FetchVerifiedAsync(digest, chunks, contents, cancellationToken).ConfigureAwait(false);
            return contents.Reader();
        }
        catch
        {
            contents.Dispose();
            throw;
        }
    }

    /// <summary>A large blob of several chunks is served by ranges (<see cref="ChunkedBlobReader"/>), each chunk fetched when read.</summary>
    public ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, long size, CancellationToken cancellationToken = default) =>
        ChunkedBlobReader.OpenAsync(digest, size, this, token => OpenReadAsync(digest, token),
            async (chunk, token) => ArrayBlobContents.Filled(await ReadChunkAsync(digest, chunk.Digest, (int)chunk.Size, token).ConfigureAwait(false)),
            prefetchChunk: null, cancellationToken);

    public async ValueTask<IReadOnlyList<BlobChunkInfo>?> StatChunksAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        List<ChunkMeta>? chunks = await ChunkListAsync(digest, cancellationToken).ConfigureAwait(false);
        return chunks?.ConvertAll(static chunk => new BlobChunkInfo(chunk.Digest, chunk.Size));
    }

    public BlobWriter OpenWrite() => new ObjectStoreBlobWriter(this);

    /// <summary>
    /// A chunk asked for by its own digest (a client reading by ranges), verified; null when there
    /// is no such chunk either.
    /// </summary>
    private async ValueTask<BlobReader?> OpenChunkByDigestAsync(B3Digest chunk, CancellationToken cancellationToken)
    {
        string key = ObjectKeys.Chunk(Bucket.Prefix, chunk);
        byte[]? compressed = await Bucket.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (compressed is null)
            return null;
        byte[] data;
        try
        {
            using var decompressor = new ZstdSharp.Decompressor();
            data = decompressor.Unwrap(compressed, Chunker.Maximum).ToArray();
        }
        catch (ZstdSharp.ZstdException e)
        {
            throw Corrupt(chunk, $"its chunk {key} is not zstd data of at most {Chunker.Maximum} bytes ({e.Message})");
        }
        B3Digest actual = B3Digest.Compute(data);
        if (actual != chunk)
            throw Corrupt(chunk, $"its chunk {key} is corrupt: its bytes hash to {actual}");
        return ArrayBlobContents.Filled(data);
    }

    public ValueTask DisposeAsync()
    {
        Bucket.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The blob's chunk list, checked for shape (digest lengths, sizes), or null when absent.</summary>
    internal async ValueTask<List<ChunkMeta>?> ChunkListAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        string key = ObjectKeys.Blob(Bucket.Prefix, digest);
        byte[]? bytes = await Bucket.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
            return null;
        List<ChunkMeta> chunks;
        try
        {
            chunks = ChunkList.Decode(bytes);
        }
        catch (InvalidDataException e)
        {
            throw Corrupt(digest, $"its chunk list {key} is broken: {e.Message}");
        }
        if (chunks.Count == 0 && digest != B3Digest.Empty)
            throw Corrupt(digest, $"its chunk list {key} is empty but the blob is not");
        return chunks;
    }

    private static long TotalSize(List<ChunkMeta> chunks)
    {
        long size = 0;
        foreach (ChunkMeta chunk in chunks)
            size += chunk.Size;
        return size;
    }

    /// <summary>
    /// Fetches the chunks (a few ahead, in order), checks each chunk's BLAKE3 and then the blob's,
    /// and writes them into <paramref name="contents"/>.
    /// </summary>
    private async ValueTask FetchVerifiedAsync(B3Digest digest, List<ChunkMeta> chunks, BlobContents contents, CancellationToken cancellationToken)
    {
        var hasher = new Blake3Hasher();
        var inFlight = new Queue<Task<byte[]>>();
        int next = 0;
        long offset = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (next < chunks.Count || inFlight.Count > 0)
            {
                while (next < chunks.Count && inFlight.Count < ParallelTransfers)
                {
                    ChunkMeta chunk = chunks[next++];
                    inFlight.Enqueue(ReadChunkAsync(digest, chunk.Digest, chunk.Size, stop.Token).AsTask());
                }
                byte[] data = await inFlight.Dequeue().ConfigureAwait(false);
                hasher.Update(data);
                contents.Write(offset, data);
                offset += data.Length;
            }
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            foreach (Task<byte[]> pending in inFlight)
                await pending.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            throw;
        }
        B3Digest actual = hasher.Finish();
        if (actual != digest)
            throw Corrupt(digest, $"its chunks hash to {actual}");
    }

    /// <summary>One chunk's bytes, decompressed and checked against its digest and size.</summary>
    internal async ValueTask<byte[]> ReadChunkAsync(B3Digest blob, B3Digest chunk, int size, CancellationToken cancellationToken)
    {
        string key = ObjectKeys.Chunk(Bucket.Prefix, chunk);
        byte[] compressed = await Bucket.GetAsync(key, cancellationToken).ConfigureAwait(false)
            ?? throw Corrupt(blob, $"its chunk {key} is missing");
        byte[] data = new byte[size];
        int written;
        try
        {
            using var decompressor = new ZstdSharp.Decompressor();
            written = decompressor.Unwrap(compressed, data, 0);
        }
        catch (ZstdSharp.ZstdException e)
        {
            throw Corrupt(blob, $"its chunk {key} is not zstd data of {size} bytes ({e.Message})");
        }
        if (written != size)
            throw Corrupt(blob, $"its chunk {key} holds {written} bytes, not {size}");
        B3Digest actual = B3Digest.Compute(data);
        if (actual != chunk)
            throw Corrupt(blob, $"its chunk {key} is corrupt: its bytes hash to {actual}");
        return data;
    }

    private StoreUnavailableException Corrupt(B3Digest blob, string reason) =>
        new($"blob {blob} in store '{Bucket.Name}' is not served: {reason}");
}
