using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Services;

/// <summary>
/// A blob service that can stream a blob's bytes front to back without first landing them
/// anywhere (a remote one): the cache fills its local copy straight from the stream.
/// </summary>
public interface IBlobStreamSource
{
    /// <summary>
    /// The blob's bytes in order, unverified. Each chunk is valid only until the next is asked for.
    /// Throws <see cref="Services.StoreNotFoundException"/> when the blob is absent.
    /// </summary>
    IAsyncEnumerable<ReadOnlyMemory<byte>> ReadChunksAsync(B3Digest digest, CancellationToken cancellationToken = default);
}
