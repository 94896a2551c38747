using System.Buffers;
using System.Security.Cryptography;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Model.BinaryCache;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// For a path trusted only because its content address reproduces its store path: checks that what
/// was ingested has that hash. A narinfo proves only that the CA and the name agree; that the
/// contents agree with the CA is seen only in the bytes. <c>fixed:r:sha256</c> needs nothing more
/// (its CA hash must equal NarHash, which the ingestion checked); text and flat hash the one file's
/// contents; recursive with another algorithm hashes the NAR rendered back from the stored data.
/// </summary>
internal static class ContentAddressCheck
{
    /// <summary>Throws <see cref="StoreValidationException"/> when the contents do not have the CA's hash.</summary>
    public static async Task VerifyAsync(NixContentAddress address, Node root, IBlobService blobs, NarCalculator narCalculator, CancellationToken cancellationToken)
    {
        if (address.IsCoveredByNarHash)
            return;
        HashAlgorithmName algorithm = address.HashAlgorithmName;
        byte[] actual;
        if (address.Method == ContentAddressMethod.Recursive)
        {
            actual = (await narCalculator.CalculateAsync(root, algorithm, cancellationToken).ConfigureAwait(false)).NarSha256;
        }
        else
        {
            if (root.NodeCase != Node.NodeOneofCase.File)
                throw new StoreValidationException($"a {(address.Method == ContentAddressMethod.Text ? "text" : "flat")} content address names one regular file, the NAR holds a {root.NodeCase.ToString().ToLowerInvariant()}");
            actual = await HashBlobAsync(B3Digest.FromByteString(root.File.Digest), algorithm, blobs, cancellationToken).ConfigureAwait(false);
        }
        if (!CryptographicOperations.FixedTimeEquals(actual, address.Hash))
            throw new StoreValidationException($"the contents hash to {address.HashAlgorithm}:{NixBase32.Encode(actual)}, the content address says {address.HashAlgorithm}:{NixBase32.Encode(address.Hash)}");
    }

    private static async Task<byte[]> HashBlobAsync(B3Digest digest, HashAlgorithmName algorithm, IBlobService blobs, CancellationToken cancellationToken)
    {
        using BlobReader reader = await blobs.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreValidationException($"blob {digest} just ingested is not in the blob service");
        using var hash = IncrementalHash.CreateHash(algorithm);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BlobChunks.Size);
        try
        {
            await BlobChunks.ReadAllAsync(reader, digest, buffer, hash, static (hash, chunk, _) =>
            {
                hash.AppendData(chunk.Span);
                return ValueTask.CompletedTask;
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return hash.GetHashAndReset();
    }
}
