using System.Buffers;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Nar;

/// <summary>
/// NAR size and SHA-256 of a node graph held in a blob and a directory service: the model's
/// <see cref="NarRenderer"/> walks the graph (verifying every Directory) and this class feeds it,
/// streaming each blob a buffer at a time into a <see cref="NarHasher"/>, so neither the archive
/// nor any file is ever held whole.
/// </summary>
/// <remarks>
/// The walk is bounded: a graph whose directories are shared (D_k = {a→D_k-1, b→D_k-1}) is small to
/// store but renders 2^k entries, so it stops after <see cref="MaxEntries"/> entries with
/// <see cref="StoreLimitExceededException"/>, and every step honours cancellation (a caller that
/// gave up never leaves a core spinning).
/// </remarks>
public sealed class NarCalculator(IBlobService blobs, IDirectoryService directories, long maxEntries = NarCalculator.DefaultMaxEntries,
    string limitName = "max-nar-entries")
{
    /// <summary>
    /// Entries (files, symlinks, directories, counted each time the walk reaches them) one NAR may
    /// have: far above any real store path (a full TeX Live tree has a few hundred thousand).
    /// </summary>
    public const long DefaultMaxEntries = 4_000_000;

    /// <summary>The most entries one calculation visits before it gives up.</summary>
    public long MaxEntries { get; } = maxEntries > 0 ? maxEntries : throw new ArgumentOutOfRangeException(nameof(maxEntries));

    public ValueTask<NarHash> CalculateAsync(Node node, CancellationToken cancellationToken = default) =>
        CalculateAsync(node, System.Security.Cryptography.HashAlgorithmName.SHA256, cancellationToken);

    /// <summary>The NAR's size and its hash by <paramref name="algorithm"/> (a content address may name MD5, SHA-1 or SHA-512).</summary>
    public async ValueTask<NarHash> CalculateAsync(Node node, System.Security.Cryptography.HashAlgorithmName algorithm, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        DirectoryRules.ValidateNode(node, requireName: false);
        // Fetch the whole directory graph first: one recursive get (one round trip for a remote store).
        var graph = new Dictionary<B3Digest, VerifiedDirectory>();
        if (node.NodeCase == Node.NodeOneofCase.Directory)
        {
            await foreach (VerifiedDirectory directory in directories.GetRecursiveAsync(B3Digest.FromByteString(node.Directory.Digest), cancellationToken).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
                graph.TryAdd(directory.Digest, directory);
            }
        }

        using var hasher = new NarHasher(algorithm);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BlobChunks.Size);
        long visited = 1;
        try
        {
            await NarRenderer.WriteAsync(
                new NarWriter(hasher),
                node,
                (digest, token) =>
                {
                    // Every directory the walk enters passes here, so this bounds the whole walk; the
                    // lookups complete synchronously, so this is also where a cancelled call stops.
                    token.ThrowIfCancellationRequested();
                    VerifiedDirectory? directory = graph.GetValueOrDefault(digest);
                    if (directory is not null)
                    {
                        visited += directory.Children.Count;
                        if (visited > MaxEntries)
                            throw new StoreLimitExceededException(
                                $"the NAR has more than {MaxEntries} entries, a directory shared many times over counted each time ({limitName})");
                    }
                    return ValueTask.FromResult(directory);
                },
                (digest, size, writer, token) => WriteBlobAsync(digest, size, writer, buffer, token),
                cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return new NarHash(hasher.Size, hasher.CurrentSha256());
    }

    private async ValueTask WriteBlobAsync(B3Digest digest, ulong size, NarWriter writer, byte[] buffer, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using BlobReader reader = await blobs.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreNotFoundException($"blob {digest} not found");
        if ((ulong)reader.Length != size)
            throw new StoreValidationException($"blob {digest} has {reader.Length} bytes, its file node says {size}");
        await BlobChunks.ReadAllAsync(reader, digest, buffer, writer, static (writer, chunk, _) =>
        {
            writer.WriteFileContents(chunk.Span);
            return ValueTask.CompletedTask;
        }, cancellationToken).ConfigureAwait(false);
    }
}
