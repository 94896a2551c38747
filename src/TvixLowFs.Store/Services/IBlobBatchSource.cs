using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Services;

/// <summary>
/// A blob service that can stream many blobs in one call (our daemon's BlobBatchService): a tree
/// of small files then costs one round trip per batch instead of one per file.
/// </summary>
public interface IBlobBatchSource
{
    /// <summary>
    /// Streams the blobs of <paramref name="digests"/> into <paramref name="sink"/>, in order, each
    /// blob's parts together and in order. Returns false, having delivered nothing, when the server
    /// does not offer batched reads (then and from then on the caller reads blob by blob). The
    /// bytes are unverified. Throws like a read when the call fails part way; what was delivered
    /// before stays delivered.
    /// </summary>
    Task<bool> ReadBlobsAsync(IReadOnlyList<B3Digest> digests, IBlobBatchSink sink, CancellationToken cancellationToken);
}

/// <summary>Receives the blobs of one <see cref="IBlobBatchSource.ReadBlobsAsync"/> call.</summary>
public interface IBlobBatchSink
{
    /// <summary>The next bytes of blob <paramref name="index"/>; <paramref name="last"/> ends it. Valid only during the call.</summary>
    void Part(int index, ReadOnlySpan<byte> data, bool last);

    /// <summary>The server does not have blob <paramref name="index"/>.</summary>
    void Missing(int index);
}
