using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Caching;

/// <summary>
/// Blobs read through a local store: a blob missing locally is fetched once from the remote
/// service, verified against its digest while it streams in, kept only if it matches, and then
/// served from the local file (which the FUSE read path splices from). Writes go to the remote.
/// Concurrent opens of one digest share one fetch; several processes may share the local store.
/// </summary>
public sealed class CachingBlobService(IBlobService remote, IBlobService local) : IBlobService
{
    private const int CopyChunkSize = 256 * 1024;

    private readonly ConcurrentDictionary<B3Digest, Lazy<Task<bool>>> _fills = new();

    public IBlobService Remote { get; } = remote;
    public IBlobService Local { get; } = local;

    public async ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default) =>
        await Local.StatAsync(digest, cancellationToken).ConfigureAwait(false)
        ?? await Remote.StatAsync(digest, cancellationToken).ConfigureAwait(false);

    public async ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        var cached = await Local.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false);
        if (cached is not null)
            return cached;
        if (!await FillAsync(digest, cancellationToken).ConfigureAwait(false))
            return null;
        return await Local.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false)
            // Filled but gone again (someone cleaned the cache directory meanwhile): serve it remotely.
            ?? await Remote.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false);
    }

    public BlobWriter OpenWrite() => Remote.OpenWrite();

    /// <summary>Fetches the blob into the local store; false when the remote does not have it.</summary>
    public async Task<bool> FillAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        // One fetch per digest however many readers wait; a waiter giving up does not cancel it
        // (the remote's own deadlines bound it).
        var fill = _fills.GetOrAdd(digest, d => new Lazy<Task<bool>>(() => FetchAndForgetAsync(d)));
        return await fill.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> FetchAndForgetAsync(B3Digest digest)
    {
        try
        {
            return await FetchAsync(digest).ConfigureAwait(false);
        }
        finally
        {
            // A failed fetch is retried by the next reader; a finished one is now local.
            _fills.TryRemove(digest, out _);
        }
    }

    private async Task<bool> FetchAsync(B3Digest digest)
    {
        await Task.Yield();
        await using var writer = Local.OpenWrite();
        try
        {
            var chunks = Remote is IBlobStreamSource source ? source.ReadChunksAsync(digest) : ReadThroughReaderAsync(digest);
            await BlobFill.ToWriterAsync(chunks, digest, writer, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (StoreNotFoundException)
        {
            return false;
        }
    }

    /// <summary>The chunks of a remote that offers only positional reads.</summary>
    private async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadThroughReaderAsync(B3Digest digest,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var reader = await Remote.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreNotFoundException($"blob {digest} not found");
        byte[] buffer = new byte[(int)Math.Min(CopyChunkSize, Math.Max(1, reader.Length))];
        long offset = 0;
        while (offset < reader.Length)
        {
            int read = await reader.ReadAtAsync(offset, buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
                throw new StoreUnavailableException($"blob {digest} ended early at {offset} of {reader.Length} bytes");
            offset += read;
            yield return buffer.AsMemory(0, read);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Remote.DisposeAsync().ConfigureAwait(false);
        await Local.DisposeAsync().ConfigureAwait(false);
    }
}
