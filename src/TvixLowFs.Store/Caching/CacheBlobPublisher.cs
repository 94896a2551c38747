using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Caching;

/// <summary>
/// Gives verified blobs of a local cache store their final names in the background, in batches:
/// one <c>syncfs</c> makes a whole batch of temp files durable before any of them is renamed (so a
/// final name still only ever holds a complete object), where <see cref="LocalStore.Publish"/>
/// costs two fsyncs per blob. Until its batch is done a blob is served from its temp file, so a
/// fetch is answered as soon as its bytes are verified, not once they are on disk.
/// </summary>
internal sealed class CacheBlobPublisher : IAsyncDisposable
{
    /// <summary>Blobs renamed per sync; bounds how long one batch holds its entries back.</summary>
    private const int MaxBatch = 1024;

    private readonly LocalStore _store;
    private readonly ConcurrentDictionary<B3Digest, string> _pending = new();
    private readonly HashSet<string> _knownShards = new(StringComparer.Ordinal);
    private readonly Channel<(B3Digest Digest, string TempPath)> _queue =
        Channel.CreateUnbounded<(B3Digest, string)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public CacheBlobPublisher(LocalStore store)
    {
        _store = store;
        _loop = Task.Run(PublishLoopAsync);
    }

    /// <summary>Blobs verified and waiting for their final name (for tests).</summary>
    internal int PendingCount => _pending.Count;

    /// <summary>Hands over a complete, verified, closed temp file holding <paramref name="digest"/>'s bytes.</summary>
    public void Add(B3Digest digest, string tempPath)
    {
        if (!_pending.TryAdd(digest, tempPath) || !_queue.Writer.TryWrite((digest, tempPath)))
        {
            // Already pending under another temp file, or shutting down: this copy is not needed.
            _pending.TryRemove(new KeyValuePair<B3Digest, string>(digest, tempPath));
            TryDelete(tempPath);
        }
    }

    public bool IsPending(B3Digest digest) => _pending.ContainsKey(digest);

    /// <summary>A reader over the blob's temp file while it waits for its name; null when it is not pending (any more).</summary>
    public BlobReader? TryOpenPending(B3Digest digest)
    {
        if (!_pending.TryGetValue(digest, out string? tempPath))
            return null;
        try
        {
            return new CachedFileBlobReader(File.OpenHandle(tempPath, FileMode.Open, FileAccess.Read, FileShare.Read));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null; // renamed (or dropped) since: the caller looks at the final name
        }
    }

    private async Task PublishLoopAsync()
    {
        var batch = new List<(B3Digest Digest, string TempPath)>();
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var item))
                batch.Add(item);
            bool renamed = false;
            try
            {
                Interop.Libc.SyncFileSystemOf(_store.TempDirectory);
                foreach ((B3Digest digest, string tempPath) in batch)
                {
                    string finalPath = _store.BlobPath(digest);
                    if (File.Exists(finalPath))
                        continue; // kept meanwhile by another process: same name, same bytes
                    string shard = Path.GetDirectoryName(finalPath)!;
                    if (_knownShards.Add(shard))
                        System.IO.Directory.CreateDirectory(shard);
                    File.Move(tempPath, finalPath, overwrite: true);
                    renamed = true;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not kept: the next open of these blobs fetches them again.
            }
            finally
            {
                foreach ((B3Digest digest, string tempPath) in batch)
                {
                    _pending.TryRemove(new KeyValuePair<B3Digest, string>(digest, tempPath));
                    TryDelete(tempPath); // a no-op for the renamed ones
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

    private static void TryDelete(string path)
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
