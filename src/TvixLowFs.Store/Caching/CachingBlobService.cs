using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Caching;

/// <summary>
/// Blobs read through a local store: a blob missing locally is fetched once from the remote
/// service, verified against its digest while it streams in, kept only if it matches, and then
/// served from the local file (which the FUSE read path splices from). Writes go to the remote.
/// Concurrent opens of one digest share one fetch; several processes may share the local store.
/// The bytes go straight into a temp file of the local store and are served from it once
/// verified, while <see cref="CachePublisher"/> names them in batches.
/// </summary>
public sealed partial class CachingBlobService : IBlobService, IBlobPrefetchTarget
{
    private const int CopyChunkSize = 256 * 1024;

    private readonly ConcurrentDictionary<B3Digest, Lazy<Task<bool>>> _fills = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly LocalStore _cacheStore;
    private readonly CachePublisher _publisher;
    // Verified blobs whose temp file waits for its final name; dropped once the publisher has handled it.
    private readonly ConcurrentDictionary<B3Digest, string> _pending = new();
    private int _disposed;

    public CachingBlobService(IBlobService remote, LocalBlobService local)
    {
        Remote = remote;
        Local = local;
        _cacheStore = local.Store;
        _publisher = new CachePublisher(local.Store);
    }

    public IBlobService Remote { get; }
    public LocalBlobService Local { get; }

    /// <summary>Verified blobs still waiting for their name in the local store (for tests).</summary>
    internal int PendingPublications => _pending.Count;

    public async ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        if (TryOpenPending(digest) is { } pending)
        {
            using (pending)
                return pending.Length;
        }
        return await Local.StatAsync(digest, cancellationToken).ConfigureAwait(false)
            ?? await Remote.StatAsync(digest, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        var cached = await OpenCachedAsync(digest, cancellationToken).ConfigureAwait(false);
        if (cached is not null)
            return cached;
        if (!await FillAsync(digest, cancellationToken).ConfigureAwait(false))
            return null;
        return await OpenCachedAsync(digest, cancellationToken).ConfigureAwait(false)
            // Filled but gone again (someone cleaned the cache directory meanwhile): serve it remotely.
            ?? await Remote.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false);
    }

    public async Task PrefetchAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        if (IsHeld(digest))
            return;
        await FillAsync(digest, cancellationToken).ConfigureAwait(false);
    }

    public BlobWriter OpenWrite() => Remote.OpenWrite();

    /// <summary>Held locally already (named or about to be); a cheap check, no exception on a miss.</summary>
    public bool IsHeld(B3Digest digest)
    {
        if (_pending.ContainsKey(digest) || _knownHeld.ContainsKey(HeldKey(digest)))
            return true;
        if (!StoreFiles.Exists(_cacheStore.BlobPath(digest)))
            return false;
        RememberHeld(digest);
        return true;
    }

    /// <summary>
    /// Blobs this process has named in the cache or found there, by the first 64 bits of their
    /// digest: a tree walk asks about each file up to three times (readahead, batch, open), and
    /// a stat per question was a third of a cold remote tar's filesystem calls. A wrong "held"
    /// (a prefix collision, or the cache emptied from outside) only means the open finds no file
    /// and fetches it then. Bounded: forgotten wholesale when full.
    /// </summary>
    private readonly ConcurrentDictionary<ulong, byte> _knownHeld = new();
    private const int MaxKnownHeld = 1 << 18;

    private static ulong HeldKey(B3Digest digest) =>
        System.Runtime.InteropServices.MemoryMarshal.Read<ulong>(System.Runtime.InteropServices.MemoryMarshal.AsBytes(new ReadOnlySpan<B3Digest>(in digest)));

    private void RememberHeld(B3Digest digest)
    {
        if (_knownHeld.Count >= MaxKnownHeld)
            _knownHeld.Clear();
        _knownHeld.TryAdd(HeldKey(digest), 0);
    }

    /// <summary>A reader over the blob's temp file while it waits for its name; null when it is not pending (any more).</summary>
    private FileBlobReader? TryOpenPending(B3Digest digest)
    {
        if (!_pending.TryGetValue(digest, out string? tempPath))
            return null;
        // Null when renamed (or dropped) since: the caller looks at the final name.
        return StoreFiles.OpenReadOnly(tempPath) is { } handle ? new FileBlobReader(handle) : null;
    }

    /// <summary>The local copy: still under its temp name, or under its final one; null when there is none.</summary>
    private async ValueTask<BlobReader?> OpenCachedAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        // Pending first: the publisher drops a digest from its pending set only after renaming it.
        if (TryOpenPending(digest) is { } pending)
            return pending;
        // An absent blob is a plain null from one open(2), no exception: no stat first.
        return await Local.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Fetches the blob into the local store; false when the remote does not have it.</summary>
    public async Task<bool> FillAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        // One fetch per digest however many readers wait; a waiter giving up does not cancel it
        // (the remote's own deadlines bound it, and disposal stops it).
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var fill = _fills.GetOrAdd(digest, d => new Lazy<Task<bool>>(() => FetchAndForgetAsync(d)));
        return await fill.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> FetchAndForgetAsync(B3Digest digest)
    {
        try
        {
            return await FetchAsync(digest, _stopping.Token).ConfigureAwait(false);
        }
        finally
        {
            // A failed fetch is retried by the next reader; a finished one is now local.
            _fills.TryRemove(digest, out _);
        }
    }

    private async Task<bool> FetchAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        await Task.Yield();
        return await FetchIntoCacheFileAsync(_cacheStore, digest, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Streams the blob into a temp file of the cache store, hashing it on the way, and hands the
    /// file to the publisher once verified; a blob that does not match is deleted, never served.
    /// </summary>
    private async Task<bool> FetchIntoCacheFileAsync(LocalStore store, B3Digest digest, CancellationToken cancellationToken)
    {
        if (_pending.ContainsKey(digest))
            return true; // an earlier fetch has it (the caller looked at the final name already)
        string tempPath;
        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        try
        {
            (tempPath, handle) = store.CreateTempFile("blob");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw store.Failure("starting a blob", e);
        }
        bool handedOver = false;
        try
        {
            try
            {
                await BlobFill.ToFileAsync(RemoteChunks(digest, cancellationToken), digest, handle, cancellationToken).ConfigureAwait(false);
            }
            catch (StoreNotFoundException)
            {
                return false;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw store.Failure($"writing blob {digest}", e);
            }
            // Closing unlocks it, so readers (here and in other processes) can open it shared.
            handle.Dispose();
            handedOver = HandOver(store, digest, tempPath);
            return true;
        }
        finally
        {
            if (!handedOver)
            {
                handle.Dispose();
                CachePublisher.TryDelete(tempPath);
            }
        }
    }

    /// <summary>
    /// Serves a verified, closed temp file from now on and queues it for its final name; false when
    /// it was not taken (another fetch of the digest is already pending): the caller deletes it.
    /// </summary>
    private bool HandOver(LocalStore store, B3Digest digest, string tempPath)
    {
        if (!_pending.TryAdd(digest, tempPath))
            return false;
        var entry = new KeyValuePair<B3Digest, string>(digest, tempPath);
        bool handedOver = _publisher.TryAdd(tempPath, store.BlobPath(digest), renamed =>
        {
            // Known before it leaves the pending set, so IsHeld never misses it in between.
            if (renamed)
                RememberHeld(digest);
            _pending.TryRemove(entry);
        });
        if (!handedOver)
            _pending.TryRemove(entry);
        return handedOver;
    }

    private IAsyncEnumerable<ReadOnlyMemory<byte>> RemoteChunks(B3Digest digest, CancellationToken cancellationToken) =>
        Remote is IBlobStreamSource source ? source.ReadChunksAsync(digest, cancellationToken) : ReadThroughReaderAsync(digest, cancellationToken);

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

    /// <summary>Stops fetches still running, names what was verified, then closes both stores.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _stopping.Cancel();
        foreach (var fill in _fills.Values)
        {
            try { await fill.Value.ConfigureAwait(false); }
            catch (Exception) { /* its waiters saw it */ }
        }
        await _publisher.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
        await Remote.DisposeAsync().ConfigureAwait(false);
        await Local.DisposeAsync().ConfigureAwait(false);
    }
}
