using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Local;

/// <summary>
/// A write batch of a <see cref="LocalBlobService"/>: each writer's close leaves its complete temp
/// file closed and unnamed (nothing fsynced); <see cref="CommitAsync"/> names them all with a few
/// syncs (<see cref="PublishBatch"/>), so a blob's final name still only ever holds durable bytes.
/// Until the commit its temp files are the only trace of the batch; disposing it deletes them, and a
/// crash leaves them to the stale-temp sweep.
/// </summary>
internal sealed class LocalBlobWriteBatch(LocalStore store) : IBlobWriteBatch
{
    private readonly Lock _lock = new();
    private List<(string TempPath, string FinalPath)> _closed = [];
    private bool _disposed;

    public BlobWriter OpenWrite()
    {
        lock (_lock)
            ObjectDisposedException.ThrowIf(_disposed, this);
        return new LocalBlobService.Writer(store, this);
    }

    public bool ClosesWithoutWaiting => true;

    /// <summary>Takes a closed temp file holding the blob to be named <paramref name="finalPath"/>.</summary>
    internal void Add(string tempPath, string finalPath)
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                _closed.Add((tempPath, finalPath));
                return;
            }
        }
        LocalStore.TryDelete(tempPath);
        throw new ObjectDisposedException(nameof(LocalBlobWriteBatch));
    }

    public ValueTask CommitAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        List<(string TempPath, string FinalPath)> closed;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            closed = _closed;
            _closed = [];
        }
        var renamed = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            // A blob already stored is durable (the store's contract), and one written twice in
            // this batch needs one name: their temp files are dropped, and no sync is spent on them.
            var names = new HashSet<string>(StringComparer.Ordinal);
            var pending = new List<(string TempPath, string FinalPath)>(closed.Count);
            foreach ((string tempPath, string finalPath) in closed)
            {
                if (names.Add(finalPath) && !StoreFiles.Exists(finalPath))
                    pending.Add((tempPath, finalPath));
            }
            var batch = new PublishBatch(store);
            batch.SyncTempFiles(pending.ConvertAll(p => p.TempPath));
            foreach ((string tempPath, string finalPath) in pending)
            {
                batch.Rename(tempPath, finalPath);
                renamed.Add(tempPath);
            }
            batch.SyncRenames();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw store.Failure($"storing a batch of {closed.Count} blobs", e);
        }
        finally
        {
            foreach ((string tempPath, _) in closed)
            {
                if (!renamed.Contains(tempPath))
                    LocalStore.TryDelete(tempPath);
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Deletes the temp files of blobs closed and not committed: none of them is named.</summary>
    public ValueTask DisposeAsync()
    {
        List<(string TempPath, string FinalPath)> closed;
        lock (_lock)
        {
            if (_disposed)
                return ValueTask.CompletedTask;
            _disposed = true;
            closed = _closed;
            _closed = [];
        }
        foreach ((string tempPath, _) in closed)
            LocalStore.TryDelete(tempPath);
        return ValueTask.CompletedTask;
    }
}
