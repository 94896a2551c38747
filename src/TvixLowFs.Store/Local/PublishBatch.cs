namespace TvixLowFs.Store.Local;

/// <summary>
/// Names complete, closed temp files of a <see cref="LocalStore"/> with a few syncs for the whole
/// batch instead of two fsyncs per object: first the temp files' bytes are made durable (one
/// <c>syncfs</c>, or an fsync each when there are only a few), then the renames happen in the
/// order the caller makes them, then the renames are made durable (an fsync per shard directory
/// that received one, or one <c>syncfs</c> when there are many). So a final name never holds bytes
/// that are not on disk, and an object renamed after another (a Directory after its children) is
/// never visible without it. One thread publishes one batch.
/// </summary>
public sealed class PublishBatch(LocalStore store)
{
    /// <summary>
    /// Up to this many objects an fsync each costs less than a <c>syncfs</c>, which writes out
    /// every dirty inode of the file system, other processes' included, however little is ours.
    /// </summary>
    private const int FSyncEachLimit = 4;

    // Directories whose entries the renames changed: shards, and the parents of shards this batch created.
    private readonly HashSet<string> _touched = new(StringComparer.Ordinal);
    private readonly HashSet<string> _newShards = new(StringComparer.Ordinal);

    /// <summary>Makes the bytes of these closed temp files durable; call before any of them is renamed.</summary>
    public void SyncTempFiles(IReadOnlyCollection<string> tempPaths)
    {
        ArgumentNullException.ThrowIfNull(tempPaths);
        if (tempPaths.Count == 0)
            return;
        if (tempPaths.Count <= FSyncEachLimit)
        {
            foreach (string tempPath in tempPaths)
                StoreFiles.FSyncPath(tempPath);
        }
        else
        {
            StoreFiles.SyncFileSystemOf(store.TempDirectory);
        }
    }

    /// <summary>
    /// Renames one synced temp file to its final name. An existing object of that name is replaced
    /// by the same bytes: rename is atomic and a reader keeps the inode it opened. A shard directory
    /// not yet known durable is created (if need be) without a sync of its own: its parent is synced
    /// with the renames, before the batch is done.
    /// </summary>
    public void Rename(string tempPath, string finalPath)
    {
        string shard = Path.GetDirectoryName(finalPath)!;
        if (!store.IsDurableShard(shard) && _newShards.Add(shard))
        {
            // A no-op when it exists: another process's, or one of this process not yet synced.
            System.IO.Directory.CreateDirectory(shard);
            _touched.Add(Path.GetDirectoryName(shard)!);
        }
        StoreFiles.Rename(tempPath, finalPath);
        _touched.Add(shard);
    }

    /// <summary>Makes every rename since the last call durable, and the shard directories they went into.</summary>
    public void SyncRenames()
    {
        if (_touched.Count == 0)
            return;
        if (_touched.Count <= FSyncEachLimit)
        {
            foreach (string directory in _touched)
                StoreFiles.FSyncDirectory(directory);
        }
        else
        {
            StoreFiles.SyncFileSystemOf(store.TempDirectory);
        }
        _touched.Clear();
        foreach (string shard in _newShards)
            store.MarkDurableShard(shard);
        _newShards.Clear();
    }
}
