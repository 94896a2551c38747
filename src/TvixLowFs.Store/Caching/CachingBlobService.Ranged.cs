using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Caching;

/// <summary>
/// Large blobs by ranges: when the remote keeps a blob as several chunks (a daemon on an object
/// store answers <c>Stat</c> with its chunk list), a blob not held here is served from its chunks,
/// each fetched through this cache by its own digest when first read (verified, single-flight, kept),
/// so a read at any offset waits for one chunk, not for the whole file.
/// </summary>
public sealed partial class CachingBlobService
{
    /// <summary>Blobs at least this large are read by ranges when the remote lists several chunks.</summary>
    public const long RangedReadMinimumSize = 8L << 20;

    public async ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, long size, CancellationToken cancellationToken = default)
    {
        if (size < RangedReadMinimumSize || Remote is not IBlobChunkSource chunkSource)
            return await OpenReadAsync(digest, cancellationToken).ConfigureAwait(false);
        var cached = await OpenCachedAsync(digest, cancellationToken).ConfigureAwait(false);
        if (cached is not null)
            return cached;
        IReadOnlyList<BlobChunkInfo>? chunks = await chunkSource.StatChunksAsync(digest, cancellationToken).ConfigureAwait(false);
        if (chunks is null)
            return null;
        // One chunk is the blob itself: fetched whole, as any other.
        if (chunks.Count < 2)
            return await OpenReadAsync(digest, cancellationToken).ConfigureAwait(false);
        return new ChunkedBlobReader(digest, chunks, OpenChunkAsync, chunk => PrefetchAsync(chunk.Digest, _stopping.Token));
    }

    private async ValueTask<BlobReader> OpenChunkAsync(BlobChunkInfo chunk, CancellationToken cancellationToken) =>
        await OpenReadAsync(chunk.Digest, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreUnavailableException($"chunk {chunk.Digest} is in a blob's chunk list but the remote does not have it");
}
