using Microsoft.Win32.SafeHandles;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Caching;

/// <summary>
/// Copies a blob from a stream of chunks into a destination while hashing it, so bytes that
/// do not match the asked digest are never kept.
/// </summary>
public static class BlobFill
{
    /// <summary>
    /// Writes the chunks into <paramref name="file"/> from offset 0 and returns the length; throws
    /// <see cref="StoreValidationException"/> when the BLAKE3 of the bytes is not <paramref name="digest"/>.
    /// Each chunk is one plain pwrite into the page cache, cheaper than a thread-pool hop per chunk.
    /// </summary>
    public static async ValueTask<long> ToFileAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> chunks, B3Digest digest,
        SafeFileHandle file, CancellationToken cancellationToken)
    {
        var hasher = new Blake3Hasher();
        long length = 0;
        await foreach (var chunk in chunks.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            hasher.Update(chunk.Span);
            RandomAccess.Write(file, chunk.Span, length);
            length += chunk.Length;
        }
        Verify(hasher, digest, length);
        return length;
    }

    internal static void Verify(Blake3Hasher hasher, B3Digest digest, long length)
    {
        B3Digest actual = hasher.Finish();
        if (actual != digest)
            throw new StoreValidationException($"blob {digest}: received {length} bytes hashing to {actual}; not kept");
    }
}
