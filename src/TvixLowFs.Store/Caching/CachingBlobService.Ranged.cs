using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Caching;

/// <summary>
/// Large blobs by ranges: when the remote keeps a blob as several chunks (a daemon on an object
/// store answers <c>Stat</c> with its chunk list), a blob not held here is served from its chunks,
/// each fetched through this cache by its own digest when first read (verified, single-flight, kept),
/// so a read at any offset waits for one chunk, not for the whole file.
/// </summary>
public sealed partial class CachingBlobService : IBlobChunkSource
{
    /// <summary>
    /// The remote's chunk list, so a daemon with this cache in front of a bucket still answers
    /// <c>Stat</c> with <c>send_chunks</c> (and then each chunk by its digest, through the cache);
    /// a remote that does not cut blobs: the blob as its one chunk.
    /// </summary>
    public async ValueTask<IReadOnlyList<BlobChunkInfo>?> StatChunksAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        if (Remote is IBlobChunkSource chunked)
            return await chunked.StatChunksAsync(digest, cancellationToken).ConfigureAwait(false);
        return await StatAsync(digest, cancellationToken).ConfigureAwait(false) is not { } size ? null
            : size == 0 ? [] : [new BlobChunkInfo(digest, size)];
    }

    public async ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, long size, CancellationToken cancellationToken = default)
    {
        if (size < ChunkedBlobReader.MinimumBlobSize || Remote is not IBlobChunkSource chunkSource)
            return await OpenReadAsync(digest, cancellationToken).ConfigureAwait(false);
        // Held here already: a local file, whatever the remote keeps.
        if (await OpenCachedAsync(digest, cancellationToken).ConfigureAwait(false) is { } cached)
            return cached;
        return await ChunkedBlobReader.OpenAsync(digest, size, chunkSource, token => OpenReadAsync(digest, token),
            OpenChunkAsync, chunk => PrefetchAsync(chunk.Digest, _stopping.Token), cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<BlobReader> OpenChunkAsync(BlobChunkInfo chunk, CancellationToken cancellationToken) =>
        await OpenReadAsync(chunk.Digest, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreUnavailableException($"chunk {chunk.Digest} is in a blob's chunk list but the remote does not have it");
}
