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
/// uncached. Writes go to the remote. The received subtree (each message verified by the remote
/// client) is served from memory at once and written to the cache in the background, named in
/// batches by <see cref="CachePublisher"/>.
/// </summary>
public sealed class CachingDirectoryService : IDirectoryService
{
    private readonly ConcurrentDictionary<B3Digest, Lazy<Task<FillResult>>> _fills = new();
    private readonly LocalStore _cacheStore;
    private readonly CachePublisher _publisher;
    // Received directories not yet under their final name in the cache.
    private readonly ConcurrentDictionary<B3Digest, Directory> _pending = new();
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

    public async ValueTask<Directory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        var cached = await GetCachedAsync(digest, cancellationToken).ConfigureAwait(false);
        if (cached is not null)
            return cached;
        return await FillAsync(digest, cancellationToken).ConfigureAwait(false) switch
        {
            FillResult.Absent => null,
            FillResult.Stored => await GetCachedAsync(digest, cancellationToken).ConfigureAwait(false)
                ?? await Remote.GetAsync(digest, cancellationToken).ConfigureAwait(false),
            _ => await Remote.GetAsync(digest, cancellationToken).ConfigureAwait(false),
        };
    }

    public async IAsyncEnumerable<Directory> GetRecursiveAsync(B3Digest root, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        bool local = await GetCachedAsync(root, cancellationToken).ConfigureAwait(false) is not null
            || await FillAsync(root, cancellationToken).ConfigureAwait(false) == FillResult.Stored;
        if (!local)
        {
            await foreach (var directory in Remote.GetRecursiveAsync(root, cancellationToken).ConfigureAwait(false))
                yield return directory;
            yield break;
        }
        if (!_pending.ContainsKey(root) && StoreFiles.Exists(_cacheStore.DirectoryPath(root)))
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
            foreach (DirectoryNode child in directory.Directories)
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

    private ValueTask<Directory?> GetCachedAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        if (_pending.TryGetValue(digest, out var pending))
            return ValueTask.FromResult<Directory?>(pending);
        // A stat is far cheaper than the exception a missing file costs the local store.
        if (!StoreFiles.Exists(_cacheStore.DirectoryPath(digest)))
            return ValueTask.FromResult<Directory?>(null);
        return Local.GetAsync(digest, cancellationToken);
    }

    private async Task<FillResult> FillAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var fill = _fills.GetOrAdd(digest, d => new Lazy<Task<FillResult>>(() => FetchAndForgetAsync(d)));
        return await fill.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<FillResult> FetchAndForgetAsync(B3Digest digest)
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

    private async Task<FillResult> FetchAsync(B3Digest root)
    {
        await Task.Yield();
        var received = new Dictionary<B3Digest, Directory>();
        try
        {
            await foreach (var directory in Remote.GetRecursiveAsync(root).ConfigureAwait(false))
                received.TryAdd(DirectoryRules.Digest(directory), directory);
        }
        catch (StoreNotFoundException)
        {
            return received.Count == 0 ? FillResult.Absent : FillResult.Incomplete;
        }
        if (!received.ContainsKey(root))
            return FillResult.Absent;
        var leavesFirst = DirectoryGraph.LeavesFirst(root, received);
        // The remote client verified every message against the digest its parent names and
        // validated it: serve them from memory now, and keep them on disk behind the answer.
        foreach (var entry in leavesFirst)
            _pending.TryAdd(entry.Key, entry.Value);
        var write = Task.Run(() => WriteToCache(_cacheStore, leavesFirst));
        _writes.TryAdd(write, true);
        _ = write.ContinueWith(t => _writes.TryRemove(t, out _), TaskScheduler.Default);
        return FillResult.Stored;
    }

    /// <summary>
    /// Writes each directory's canonical bytes to a temp file and queues it for its name, leaves first
    /// (the publisher keeps the order, so a directory is only ever named after its children).
    /// </summary>
    private void WriteToCache(LocalStore store, List<KeyValuePair<B3Digest, Directory>> leavesFirst)
    {
        var chain = new PublishChain();
        bool failed = false;
        foreach (var entry in leavesFirst)
        {
            (B3Digest digest, Directory directory) = entry;
            string finalPath = store.DirectoryPath(digest);
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
                    RandomAccess.Write(handle, DirectoryEncoding.Canonical(directory), 0);
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
