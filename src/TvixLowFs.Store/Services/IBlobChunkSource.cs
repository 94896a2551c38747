using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Services;

/// <summary>One piece of a chunked blob: its own BLAKE3 digest and its size.</summary>
public readonly record struct BlobChunkInfo(B3Digest Digest, long Size);

/// <summary>
/// A blob service that keeps blobs as chunks (the object store) or can ask for a remote one's chunk
/// list (tvix's <c>Stat</c> with <c>send_chunks</c>). A chunk is read like a blob, by its own digest.
/// </summary>
public interface IBlobChunkSource
{
    /// <summary>
    /// The blob's chunks in order, their sizes summing to the blob's; null when the blob is absent.
    /// A service that does not cut a blob answers the blob itself as its one chunk.
    /// </summary>
    ValueTask<IReadOnlyList<BlobChunkInfo>?> StatChunksAsync(B3Digest digest, CancellationToken cancellationToken = default);
}
