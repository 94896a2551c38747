using Microsoft.Extensions.Logging;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Filesystem;

/// <summary>
/// Background prefetch of a store path's Directory closure, started when its root is first looked
/// up: one streaming call, each message published like an explicit fetch. Its state is its own
/// (the running count and the slots); it shares with the filesystem only the directories' fetch
/// slots, which it takes so requests wait for the stream instead of fetching again.
/// </summary>
internal sealed partial class ClosurePrefetch
{
    private readonly IDirectoryService _directories;
    private readonly InodeTable _inodes;
    private readonly StoreFilesystemOptions _options;
    private readonly Action<InodeRecord, DirectoryContents> _publish;
    private readonly CancellationToken _shutdown;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _prefetchSlots;

    /// <param name="publish">Publishes a directory's entries (as the filesystem's own fetch does).</param>
    public ClosurePrefetch(IDirectoryService directories, InodeTable inodes, StoreFilesystemOptions options,
        Action<InodeRecord, DirectoryContents> publish, CancellationToken shutdown, ILogger logger)
    {
        _directories = directories;
        _inodes = inodes;
        _options = options;
        _publish = publish;
        _shutdown = shutdown;
        _logger = logger;
        _prefetchSlots = new SemaphoreSlim(Math.Max(options.PrefetchConcurrency, 1));
    }

    /// <summary>
    /// Starts fetching the Directory closure of a store path's root directory with one streaming
    /// call, unless prefetch is off, the root's entries are already here or enough prefetches are
    /// running (low priority: it is skipped rather than queued). The root's fetch slot is taken
    /// here, before the lookup is answered, so the kernel's next request in it waits for the
    /// stream instead of fetching the same Directory again.
    /// </summary>
    public void Start(InodeRecord root)
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
        _ = Task.Run(() => PrefetchAsync(root, reservations));
    }

    private int _pendingPrefetches;

    /// <summary>Prefetches still running (for tests and shutdown).</summary>
    public int Pending => Volatile.Read(ref _pendingPrefetches);

    /// <summary>A directory whose fetch slot the prefetch holds, and the completion its waiters share.</summary>
    private readonly record struct Reservation(InodeRecord Record, TaskCompletionSource<DirectoryContents> Completion);

    /// <summary>Takes the directory's fetch slot for the prefetch; false when it has entries or a fetch in flight.</summary>
    private static bool TryReserve(InodeRecord directory, Dictionary<B3Digest, Reservation> reservations)
    {
        if (directory.Contents is not null || reservations.ContainsKey(directory.Digest))
            return false;
        if (!directory.TryReserveContentsFetch(out TaskCompletionSource<DirectoryContents> completion))
            return false;
        reservations.Add(directory.Digest, new Reservation(directory, completion));
        return true;
    }

    private async Task PrefetchAsync(InodeRecord root, Dictionary<B3Digest, Reservation> reservations)
    {
        B3Digest rootDigest = root.Digest;
        // Each message verified once by the service; the reader checks each was named by its parent.
        var reader = new RecursiveGetReader(rootDigest);
        int directories = 0;
        long bytes = 0;
        Exception? stopped = null;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_shutdown);
            deadline.CancelAfter(_options.BackendTimeout);
            await foreach (VerifiedDirectory received in _directories.GetRecursiveAsync(rootDigest, deadline.Token).ConfigureAwait(false))
            {
                // Forgotten by the kernel meanwhile: its records are gone, and entries built now
                // would be records nothing reaches (and nothing retires).
                if (root.IsRetired)
                    break;
                reader.Accept(received);
                B3Digest digest = received.Digest;

                foreach (DirectoryNode child in received.Message.Directories)
                {
                    var childDigest = B3Digest.FromByteString(child.Digest);
                    TryReserve(_inodes.GetOrAddDirectory(childDigest, checked((long)child.Size)), reservations);
                }
                // A node claiming another size than the message has is left to the explicit
                // fetch, which refuses it with EIO.
                if (reservations.TryGetValue(digest, out Reservation reservation)
                    && received.Size == (ulong)reservation.Record.Size)
                {
                    // Built while still reserved: if building throws, the finally below hands the
                    // slot back with the others, so no waiter is left without an answer.
                    DirectoryContents contents = DirectoryContents.Build(received, _inodes);
                    reservations.Remove(digest);
                    _publish(reservation.Record, contents);
                    // Its entries are in place before the slot is freed, so no one fetches it again.
                    reservation.Record.EndContentsFetch(reservation.Completion.Task);
                    reservation.Completion.SetResult(contents);
                }
                bytes += received.Canonical.Length;
                if (++directories >= _options.PrefetchMaxDirectories || bytes >= _options.PrefetchMaxBytes)
                    break;
            }
        }
        catch (Exception e)
        {
            stopped = e;
        }
        finally
        {
            // Slots still held: hand them back; their waiters fetch those directories themselves.
            // First, before anything that could throw (logging allocates).
            foreach (Reservation abandoned in reservations.Values)
            {
                abandoned.Record.EndContentsFetch(abandoned.Completion.Task);
                abandoned.Completion.TrySetResult(DirectoryContents.NotPrefetched);
            }
            _prefetchSlots.Release();
            Interlocked.Decrement(ref _pendingPrefetches);
        }
        if (stopped is not null)
            LogPrefetchStopped(rootDigest.ToString(), stopped.Message);
        LogPrefetchDone(rootDigest.ToString(), directories, bytes);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "prefetch of directory {Digest} stopped: {Reason}")]
    private partial void LogPrefetchStopped(string digest, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "prefetch of directory {Digest}: {Directories} directories, {Bytes} bytes")]
    private partial void LogPrefetchDone(string digest, int directories, long bytes);
}
