using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Filesystem;

// Background prefetch of a store path's Directory closure, started when its root is first looked up,
// and of the small blobs of a directory's files, started when the directory is opened.
public sealed partial class StoreFilesystem
{
    private readonly CancellationTokenSource _shutdown = new();
    private readonly SemaphoreSlim _prefetchSlots;

    /// <summary>
    /// Starts fetching the Directory closure of a store path's root directory with one streaming
    /// call, unless prefetch is off, the root's entries are already here or enough prefetches are
    /// running (low priority: it is skipped rather than queued). The root's fetch slot is taken
    /// here, before the lookup is answered, so the kernel's next request in it waits for the
    /// stream instead of fetching the same Directory again.
    /// </summary>
    private void StartPrefetch(InodeRecord root)
    {
        if (_options.PrefetchMaxDirectories <= 0 || root.Kind != InodeKind.Directory || root.Contents is not null
            || _shutdown.IsCancellationRequested || !_prefetchSlots.Wait(0))
            return;
        var reservations = new Dictionary<B3Digest, Reservation>();
        if (!TryReserve(root, reservations))
        {
            _prefetchSlots.Release();
            return;
        }
        Interlocked.Increment(ref _pendingPrefetches);
        _ = Task.Run(() => PrefetchAsync(root.Digest, reservations));
    }

    private int _pendingPrefetches;

    /// <summary>Prefetches still running (for tests and shutdown).</summary>
    internal int PendingPrefetches => Volatile.Read(ref _pendingPrefetches);

    /// <summary>A directory whose fetch slot the prefetch holds, and the completion its waiters share.</summary>
    private readonly record struct Reservation(InodeRecord Record, TaskCompletionSource<DirectoryContents> Completion);

    /// <summary>Takes the directory's fetch slot for the prefetch; false when it has entries or a fetch in flight.</summary>
    private static bool TryReserve(InodeRecord directory, Dictionary<B3Digest, Reservation> reservations)
    {
        if (directory.Contents is not null || reservations.ContainsKey(directory.Digest))
            return false;
        var completion = new TaskCompletionSource<DirectoryContents>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref directory.ContentsFetch, completion.Task, null) is not null)
            return false;
        reservations.Add(directory.Digest, new Reservation(directory, completion));
        return true;
    }

    private async Task PrefetchAsync(B3Digest rootDigest, Dictionary<B3Digest, Reservation> reservations)
    {
        // Digests a Directory already received names (so a streamed message is only accepted when
        // its parent asked for it), whether or not the prefetch holds their slot.
        var expected = new HashSet<B3Digest> { rootDigest };
        int directories = 0;
        long bytes = 0;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            deadline.CancelAfter(_options.BackendTimeout);
            await foreach (Directory message in _store.Directories.GetRecursiveAsync(rootDigest, deadline.Token).ConfigureAwait(false))
            {
                B3Digest digest = DirectoryRules.Digest(message);
                if (!expected.Remove(digest))
                    throw new StoreValidationException($"directory {digest} was not named by a directory received before it");
                DirectoryRules.Validate(message);

                foreach (DirectoryNode child in message.Directories)
                {
                    var childDigest = B3Digest.FromByteString(child.Digest);
                    expected.Add(childDigest);
                    TryReserve(_inodes.GetOrAddDirectory(childDigest, checked((long)child.Size)), reservations);
                }
                // A node claiming another size than the message has is left to the explicit
                // fetch, which refuses it with EIO.
                if (reservations.TryGetValue(digest, out Reservation reservation)
                    && DirectoryRules.Size(message) == (ulong)reservation.Record.Size
                    && reservations.Remove(digest))
                {
                    DirectoryContents contents = DirectoryContents.Build(message, _inodes);
                    PublishContents(reservation.Record, contents);
                    // Its entries are in place before the slot is freed, so no one fetches it again.
                    Volatile.Write(ref reservation.Record.ContentsFetch, null);
                    reservation.Completion.SetResult(contents);
                }
                bytes += message.CalculateSize();
                if (++directories >= _options.PrefetchMaxDirectories || bytes >= _options.PrefetchMaxBytes)
                    break;
            }
        }
        catch (Exception e)
        {
            LogPrefetchStopped(rootDigest.ToString(), e.Message);
        }
        finally
        {
            // Slots still held: hand them back; their waiters fetch those directories themselves.
            foreach (Reservation abandoned in reservations.Values)
            {
                _ = Interlocked.CompareExchange(ref abandoned.Record.ContentsFetch, null, abandoned.Completion.Task);
                abandoned.Completion.SetResult(DirectoryContents.NotPrefetched);
            }
            LogPrefetchDone(rootDigest.ToString(), directories, bytes);
            _prefetchSlots.Release();
            Interlocked.Decrement(ref _pendingPrefetches);
        }
    }

    /// <summary>
    /// A directory's entries for a request that waits on them: a prefetch that stopped before
    /// reaching the directory gives it back, and the request fetches it itself.
    /// </summary>
    private async Task<DirectoryContents> ContentsAsync(InodeRecord directory)
    {
        while (true)
        {
            DirectoryContents contents = await EnsureContentsAsync(directory).ConfigureAwait(false);
            if (!ReferenceEquals(contents, DirectoryContents.NotPrefetched))
                return contents;
        }
    }

    // ------------------------------------------------------------------ blobs of listed directories

    /// <summary>Directories opened and not yet looked at by the blob prefetch; created on first use.</summary>
    private Channel<InodeRecord>? _blobPrefetchDirectories;

    private int _pendingBlobPrefetches;

    /// <summary>Blob prefetches queued or running (for tests).</summary>
    internal int PendingBlobPrefetches => Volatile.Read(ref _pendingBlobPrefetches);

    /// <summary>Directories waiting for the blob prefetch; beyond this many, an opened directory is not prefetched.</summary>
    private const int BlobPrefetchDirectoryQueue = 256;

    /// <summary>
    /// Called on opendir, on a FUSE thread: only posts the directory (never waits, drops it when
    /// the queue is full). The background loop fetches the blobs of its small files into the
    /// store's cache, a few at a time, in listing order; a failed prefetch is only logged.
    /// </summary>
    private void QueueBlobPrefetch(InodeRecord directory)
    {
        if (_options.PrefetchBlobMaxSize <= 0 || _options.PrefetchBlobConcurrency <= 0 || directory.IsRoot
            || _store.Blobs is not IBlobPrefetchTarget target || _shutdown.IsCancellationRequested)
            return;
        Channel<InodeRecord> queue = Volatile.Read(ref _blobPrefetchDirectories) ?? StartBlobPrefetch(target);
        if (queue.Writer.TryWrite(directory))
            Interlocked.Increment(ref _pendingBlobPrefetches);
    }

    private Channel<InodeRecord> StartBlobPrefetch(IBlobPrefetchTarget target)
    {
        var created = Channel.CreateBounded<InodeRecord>(new BoundedChannelOptions(BlobPrefetchDirectoryQueue)
        {
            FullMode = BoundedChannelFullMode.DropWrite,
            SingleReader = true,
        });
        if (Interlocked.CompareExchange(ref _blobPrefetchDirectories, created, null) is { } existing)
            return existing;
        _ = Task.Run(() => BlobPrefetchLoopAsync(created.Reader, target));
        return created;
    }

    private async Task BlobPrefetchLoopAsync(ChannelReader<InodeRecord> directories, IBlobPrefetchTarget target)
    {
        // Not disposed: a prefetch finishing after the loop stopped still releases its slot.
        var slots = new SemaphoreSlim(_options.PrefetchBlobConcurrency);
        CancellationToken stopping = _shutdown.Token;
        try
        {
            while (await directories.WaitToReadAsync(stopping).ConfigureAwait(false))
            {
                while (directories.TryRead(out InodeRecord? directory))
                {
                    try
                    {
                        await PrefetchBlobsOfAsync(directory, target, slots, stopping).ConfigureAwait(false);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _pendingBlobPrefetches);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Unmounting: directories still queued are not prefetched.
            while (directories.TryRead(out _))
                Interlocked.Decrement(ref _pendingBlobPrefetches);
        }
    }

    private async Task PrefetchBlobsOfAsync(InodeRecord directory, IBlobPrefetchTarget target, SemaphoreSlim slots, CancellationToken stopping)
    {
        DirectoryContents contents;
        try
        {
            contents = await ContentsAsync(directory).WaitAsync(stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return; // the request that opened it answered (and logged) the failure
        }
        List<B3Digest>? digests = null;
        for (int i = 0; i < contents.Count; i++)
        {
            InodeRecord child = contents.Record(i);
            if (child.Kind != InodeKind.File || child.Size <= 0 || child.Size > _options.PrefetchBlobMaxSize || child.Blob is not null
                || !child.ClaimBlobRequest())
                continue;
            (digests ??= []).Add(child.Digest);
        }
        if (digests is null)
            return;
        // One call for the directory's small files (or a few at once when the remote has no batches).
        await slots.WaitAsync(stopping).ConfigureAwait(false);
        Interlocked.Increment(ref _pendingBlobPrefetches);
        _ = PrefetchBlobsAsync(target, digests, slots, stopping);
    }

    private async Task PrefetchBlobsAsync(IBlobPrefetchTarget target, List<B3Digest> digests, SemaphoreSlim slots, CancellationToken stopping)
    {
        try
        {
            int failed = await target.PrefetchManyAsync(digests, stopping).ConfigureAwait(false);
            if (failed > 0)
                LogBlobPrefetchFailed(failed, digests.Count);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // An open of a file fetches it again and reports what fails then.
            LogBlobPrefetchFailed(digests.Count, digests.Count, e.Message);
        }
        finally
        {
            slots.Release();
            Interlocked.Decrement(ref _pendingBlobPrefetches);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "prefetch of {Failed} of {Count} blobs failed (their opens fetch them again)")]
    private partial void LogBlobPrefetchFailed(int failed, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "prefetch of {Failed} of {Count} blobs failed: {Reason}")]
    private partial void LogBlobPrefetchFailed(int failed, int count, string reason);
}
