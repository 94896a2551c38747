using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Caching;

/// <summary>
/// Directories read through a local store. A local store only keeps a directory whose children
/// it has, so a miss fetches the whole subtree in one recursive call and stores it leaves
/// first; later lookups below it are local. A subtree with a directory missing remotely is served
/// uncached. Writes go to the remote. The received subtree (each message verified once, by the
/// remote client; here only its place in the stream is checked) is served from memory at once,
/// the requests that waited for the fill from the fill's own values, and written to the cache in
/// the background (the canonical bytes as received, not encoded or hashed again), named in
/// batches by <see cref="CachePublisher"/>.
/// </summary>
public sealed class CachingDirectoryService : IDirectoryService
{
    private readonly ConcurrentDictionary<B3Digest, Lazy<Task<Fill>>> _fills = new();
    private readonly LocalStore _cacheStore;
    private readonly CachePublisher _publisher;
    // Received directories not yet under their final name in the cache.
    private readonly ConcurrentDictionary<B3Digest, VerifiedDirectory> _pending = new();
    private readonly ConcurrentDictionary<Task, bool> _writes = new();
    private int _disposed;

    public CachingDirectoryService(IDirectoryService remote, LocalDirectoryService local)
    {
        Remote = remote;
        Local = local;
        _cacheStore = local.Store;
        _publisher = new CachePublisher(local.Store);
    }

    public IDirectoryService Remote { get; }
    public LocalDirectoryService Local { get; }

    /// <summary>Directories received and not yet named in the local store (for tests).</summary>
    internal int PendingPublications => _pending.Count;

    private enum FillResult { Stored, Absent, Incomplete }

    /// <summary>What one fill got: for <see cref="FillResult.Stored"/>, the subtree in the order received (root first).</summary>
    private sealed record Fill(FillResult Result, IReadOnlyList<VerifiedDirectory> Received);

    public async ValueTask<VerifiedDirectory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        var cached = await GetCachedAsync(digest, cancellationToken).ConfigureAwait(false);
        if (cached is not null)
            return cached;
        Fill fill = await FillAsync(digest, cancellationToken).ConfigureAwait(false);
        return fill.Result switch
        {
            FillResult.Absent => null,
            FillResult.Stored => fill.Received[0],
            _ => await Remote.GetAsync(digest, cancellationToken).ConfigureAwait(false),
        };
    }

    public async IAsyncEnumerable<VerifiedDirectory> GetRecursiveAsync(B3Digest root, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Decided without reading the root (each read verifies it: it would be read twice).
        bool named = StoreFiles.Exists(_cacheStore.DirectoryPath(root));
        if (!named && !_pending.ContainsKey(root))
        {
            // This request's fill (or one it joined) has the subtree in hand: served from it.
            Fill fill = await FillAsync(root, cancellationToken).ConfigureAwait(false);
            if (fill.Result == FillResult.Stored)
            {
                foreach (VerifiedDirectory directory in fill.Received)
                    yield return directory;
                yield break;
            }
            // Absent or incomplete remotely: the remote's own answer says which.
            await foreach (var directory in Remote.GetRecursiveAsync(root, cancellationToken).ConfigureAwait(false))
                yield return directory;
            yield break;
        }
        if (named && !_pending.ContainsKey(root))
        {
            // Named in the local store: so is everything below it.
            await foreach (var directory in Local.GetRecursiveAsync(root, cancellationToken).ConfigureAwait(false))
                yield return directory;
            yield break;
        }
        // Still (partly) in memory: breadth first, each once, from memory or the local store.
        var queue = new Queue<B3Digest>();
        var seen = new HashSet<B3Digest> { root };
        queue.Enqueue(root);
        while (queue.TryDequeue(out var digest))
        {
            var directory = await GetCachedAsync(digest, cancellationToken).ConfigureAwait(false)
                ?? throw new StoreUnavailableException($"directory {digest} under {root} vanished from the cache");
            yield return directory;
            foreach (DirectoryNode child in directory.Message.Directories)
            {
                var childDigest = B3Digest.FromByteString(child.Digest);
                if (seen.Add(childDigest))
                    queue.Enqueue(childDigest);
            }
        }
    }

    public ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default) =>
        Remote.PutAsync(directory, cancellationToken);

    public IDirectoryPutter BeginPut() => Remote.BeginPut();

    private ValueTask<VerifiedDirectory?> GetCachedAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        if (_pending.TryGetValue(digest, out var pending))
            return ValueTask.FromResult<VerifiedDirectory?>(pending);
        // A stat is far cheaper than the exception a missing file costs the local store.
        if (!StoreFiles.Exists(_cacheStore.DirectoryPath(digest)))
            return ValueTask.FromResult<VerifiedDirectory?>(null);
        return Local.GetAsync(digest, cancellationToken);
    }

    private async Task<Fill> FillAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var fill = _fills.GetOrAdd(digest, d => new Lazy<Task<Fill>>(() => FetchAndForgetAsync(d)));
        return await fill.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<Fill> FetchAndForgetAsync(B3Digest digest)
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

    private async Task<Fill> FetchAsync(B3Digest root)
    {
        await Task.Yield();
        var reader = new RecursiveGetReader(root);
        var received = new List<VerifiedDirectory>();
        var graph = new Dictionary<B3Digest, VerifiedDirectory>();
        try
        {
            await foreach (var directory in Remote.GetRecursiveAsync(root).ConfigureAwait(false))
            {
                reader.Accept(directory);
                graph.Add(directory.Digest, directory);
                received.Add(directory);
            }
            reader.Complete();
        }
        catch (StoreNotFoundException)
        {
            return new Fill(received.Count == 0 ? FillResult.Absent : FillResult.Incomplete, []);
        }
        var leavesFirst = DirectoryGraph.LeavesFirst(root, graph);
        // Verified once, by the remote: served from memory now, and kept on disk behind the answer.
        foreach (VerifiedDirectory directory in leavesFirst)
            _pending.TryAdd(directory.Digest, directory);
        var write = Task.Run(() => WriteToCache(_cacheStore, leavesFirst));
        _writes.TryAdd(write, true);
        _ = write.ContinueWith(t => _writes.TryRemove(t, out _), TaskScheduler.Default);
        return new Fill(FillResult.Stored, received);
    }

    /// <summary>
    /// Writes each directory's canonical bytes to a temp file and queues it for its name, leaves first
    /// (the publisher keeps the order, so a directory is only ever named after its children).
    /// </summary>
    private void WriteToCache(LocalStore store, List<VerifiedDirectory> leavesFirst)
    {
        var chain = new PublishChain();
        bool failed = false;
        foreach (VerifiedDirectory directory in leavesFirst)
        {
            var entry = new KeyValuePair<B3Digest, VerifiedDirectory>(directory.Digest, directory);
            string finalPath = store.DirectoryPath(directory.Digest);
            // After a failure its parents must not be named: they stay in memory only (until disposal).
            if (failed || StoreFiles.Exists(finalPath))
            {
                if (!failed)
                    _pending.TryRemove(entry);
                continue;
            }
            string? tempPath = null;
            try
            {
                (tempPath, var handle) = store.CreateTempFile("object");
                using (handle)
                    RandomAccess.Write(handle, directory.Canonical.Span, 0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (tempPath is not null)
                    CachePublisher.TryDelete(tempPath);
                failed = true;
                continue;
            }
            // Not named (its batch failed): dropped from memory too; the next request fetches it again.
            if (!_publisher.TryAdd(tempPath, finalPath, _ => _pending.TryRemove(entry), chain))
            {
                CachePublisher.TryDelete(tempPath);
                failed = true;
            }
        }
    }

    /// <summary>Waits for the fetches and cache writes still running, names what was written, then closes both stores.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        foreach (var fill in _fills.Values)
        {
            try { await fill.Value.ConfigureAwait(false); }
            catch (Exception) { /* its waiters saw it */ }
        }
        foreach (var write in _writes.Keys)
        {
            try { await write.ConfigureAwait(false); }
            catch (Exception) { }
        }
        await _publisher.DisposeAsync().ConfigureAwait(false);
        await Remote.DisposeAsync().ConfigureAwait(false);
        await Local.DisposeAsync().ConfigureAwait(false);
    }
}
