using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Caching;

/// <summary>
/// Gives verified objects of a local cache store their final names in the background, in batches
/// and in the order they were handed over: one <c>syncfs</c> makes a whole batch of temp files
/// durable before any of them is renamed (so a final name still only ever holds a complete
/// object), where <see cref="LocalStore.Publish"/> costs two fsyncs per object: the store's own
/// <see cref="PublishBatch"/>, fed from a queue. Until its batch
/// is done, the caching service serves an object from its temp file or memory, so a fetch is
/// answered as soon as its bytes are verified, not once they are on disk.
/// </summary>
internal sealed class CachePublisher : IAsyncDisposable
{
    /// <summary>Objects renamed per sync; bounds how long one batch holds its entries back.</summary>
    private const int MaxBatch = 1024;

    /// <summary>
    /// How long a batch waits for more objects before it syncs: a sync costs a pass over the
    /// filesystem's dirty inodes however little it covers, and a cold tree read hands over small
    /// blobs a few at a time (measured: ~1,700 syncs for 20,000 small files without the wait).
    /// The objects are served from their temp files meanwhile, so no reader waits for it.
    /// </summary>
    private static readonly TimeSpan GatherDelay = TimeSpan.FromMilliseconds(20);

    private readonly PublishBatch _publish;
    private volatile bool _stopping;
    private readonly Channel<Item> _queue = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public CachePublisher(LocalStore store)
    {
        _publish = new PublishBatch(store);
        _loop = Task.Run(PublishLoopAsync);
    }

    /// <summary>A complete, verified, closed temp file, its final name, and what to do once it has been handled.</summary>
    private sealed record Item(string TempPath, string FinalPath, Action<bool> Done, PublishChain? Chain)
    {
        public bool Renamed;
    }

    /// <summary>
    /// Hands over a temp file; <paramref name="done"/> runs once it is renamed (true) or dropped
    /// (false: its batch failed). Objects of one <paramref name="chain"/> are named in order, and
    /// none after one that was dropped (a Directory is never named before its children). False
    /// when publishing has stopped.
    /// </summary>
    public bool TryAdd(string tempPath, string finalPath, Action<bool> done, PublishChain? chain = null) =>
        _queue.Writer.TryWrite(new Item(tempPath, finalPath, done, chain));

    private async Task PublishLoopAsync()
    {
        var batch = new List<Item>();
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (!_stopping)
                await Task.Delay(GatherDelay).ConfigureAwait(false);
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var item))
                batch.Add(item);
            bool renamed = false;
            try
            {
                // Every temp file's bytes on disk before any of them gets its final name.
                _publish.SyncTempFiles(batch.ConvertAll(item => item.TempPath));
                foreach (Item item in batch)
                    renamed |= TryRename(item);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Nothing named: these objects are fetched again when next asked for.
            }
            finally
            {
                foreach (Item item in batch)
                {
                    if (!item.Renamed)
                    {
                        TryDelete(item.TempPath);
                        if (item.Chain is { } chain)
                            chain.Broken = true;
                    }
                    item.Done(item.Renamed);
                }
                batch.Clear();
            }
            if (renamed)
            {
                // The renames themselves durable, as LocalStore makes them.
                try { _publish.SyncRenames(); }
                catch (IOException) { }
            }
        }
    }

    /// <summary>Names one object; false (and its chain broken by the caller) when that fails or its chain already has.</summary>
    private bool TryRename(Item item)
    {
        if (item.Chain is { Broken: true })
            return false;
        try
        {
            // An object another process named meanwhile is replaced by the same bytes: no stat per object.
            _publish.Rename(item.TempPath, item.FinalPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (item.Chain is { } chain)
                chain.Broken = true; // before the next object of its chain is looked at
            return false;
        }
        item.Renamed = true;
        return true;
    }

    public static void TryDelete(string path) => LocalStore.TryDelete(path);

    /// <summary>Publishes what is queued, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }
}

/// <summary>Objects that must be named in order, none after one that was not (see <see cref="CachePublisher.TryAdd"/>).</summary>
internal sealed class PublishChain
{
    private volatile bool _broken;

    public bool Broken
    {
        get => _broken;
        set => _broken = value;
    }
}
