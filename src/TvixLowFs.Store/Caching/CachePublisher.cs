using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Caching;

/// <summary>
/// Gives verified objects of a local cache store their final names in the background, in batches
/// and in the order they were handed over: one <c>syncfs</c> makes a whole batch of temp files
/// durable before any of them is renamed (so a final name still only ever holds a complete
/// object), where <see cref="LocalStore.Publish"/> costs two fsyncs per object. Until its batch
/// is done, the caching service serves an object from its temp file or memory, so a fetch is
/// answered as soon as its bytes are verified, not once they are on disk.
/// </summary>
internal sealed class CachePublisher : IAsyncDisposable
{
    /// <summary>Objects renamed per sync; bounds how long one batch holds its entries back.</summary>
    private const int MaxBatch = 1024;

    private readonly LocalStore _store;
    private readonly HashSet<string> _knownShards = new(StringComparer.Ordinal);
    private readonly Channel<Item> _queue = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public CachePublisher(LocalStore store)
    {
        _store = store;
        _loop = Task.Run(PublishLoopAsync);
    }

    /// <summary>A complete, verified, closed temp file, its final name, and what to do once it has been handled.</summary>
    private readonly record struct Item(string TempPath, string FinalPath, Action Done);

    /// <summary>
    /// Hands over a temp file; <paramref name="done"/> runs once it is renamed (or dropped, when its
    /// batch failed or another process named the object first). False when publishing has stopped.
    /// </summary>
    public bool TryAdd(string tempPath, string finalPath, Action done) => _queue.Writer.TryWrite(new Item(tempPath, finalPath, done));

    private async Task PublishLoopAsync()
    {
        var batch = new List<Item>();
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out Item item))
                batch.Add(item);
            bool renamed = false;
            try
            {
                Interop.Libc.SyncFileSystemOf(_store.TempDirectory);
                foreach (Item item in batch)
                {
                    // An object another process named meanwhile is replaced by the same bytes (rename
                    // is atomic, and its readers keep the inode they opened): no stat per object.
                    string shard = Path.GetDirectoryName(item.FinalPath)!;
                    if (_knownShards.Add(shard))
                        System.IO.Directory.CreateDirectory(shard);
                    File.Move(item.TempPath, item.FinalPath, overwrite: true);
                    renamed = true;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not kept: these objects are fetched again when next asked for.
            }
            finally
            {
                foreach (Item item in batch)
                {
                    TryDelete(item.TempPath); // a no-op for the renamed ones
                    item.Done();
                }
                batch.Clear();
            }
            if (renamed)
            {
                // The renames themselves (and new shard directories) durable, as LocalStore makes them.
                try { Interop.Libc.SyncFileSystemOf(_store.TempDirectory); }
                catch (IOException) { }
            }
        }
    }

    public static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Publishes what is queued, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }
}

/// <summary>A blob in a local file (cached or about to be), read positionally and spliced from its descriptor.</summary>
internal sealed class CachedFileBlobReader(SafeFileHandle handle) : BlobReader
{
    private readonly long _length = RandomAccess.GetLength(handle);

    public override long Length => _length;

    public override SafeFileHandle LocalFile => handle;

    public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        int total = 0;
        while (total < buffer.Length)
        {
            int read = RandomAccess.Read(handle, buffer.Span[total..], offset + total);
            if (read == 0)
                break;
            total += read;
        }
        return ValueTask.FromResult(total);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            handle.Dispose();
    }
}
