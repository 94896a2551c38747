using Microsoft.Extensions.Logging;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Filesystem;

// Tree readahead: the first open in a directory starts opening the files a tree walker reads next.
public sealed partial class StoreFilesystem
{
    private SemaphoreSlim? _readaheadSlots;

    private int _pendingReadaheads;

    /// <summary>Tree readahead walks still running (for tests and shutdown).</summary>
    internal int PendingReadaheads => Volatile.Read(ref _pendingReadaheads);

    private long _filesReadAhead;

    /// <summary>Files tree readahead has opened (and, when local, started reading into the page cache).</summary>
    internal long FilesReadAhead => Volatile.Read(ref _filesReadAhead);

    /// <summary>
    /// First opens of files a walk read ahead: how far readers have got through the readahead (the
    /// walks' clock). Opening one file again and again moves it once at most, so a program that keeps
    /// reopening a few files does not walk the whole tree in window after window.
    /// </summary>
    private long _readaheadsOpened;

    /// <summary>Where the last walk that ran out of window stopped, and when the next should start from there.</summary>
    private sealed class ReadaheadContinuation(InodeRecord directory, long dueAt)
    {
        public InodeRecord Directory { get; } = directory;

        /// <summary>The <see cref="_readaheadsOpened"/> count at which the next walk starts.</summary>
        public long DueAt { get; } = dueAt;
    }

    private ReadaheadContinuation? _continuation;

    /// <summary>
    /// Called on every open of a file: the first open among a directory's files that no walk has
    /// taken starts a walk from it, and once readers have opened half of the files the last walk
    /// that ran out of window read ahead, the next walk starts where that one stopped. Costs two
    /// field reads and a table lookup when there is nothing to do.
    /// </summary>
    private void StartTreeReadahead(InodeRecord file)
    {
        if (_options.ReadaheadConcurrency <= 0 || file.ParentInode == 0 || _shutdown.IsCancellationRequested)
            return;
        // A file's ReadaheadTaken is 1 from when a walk read it ahead until its first open.
        if (Volatile.Read(ref file.ReadaheadTaken) != 0 && Interlocked.Exchange(ref file.ReadaheadTaken, 0) != 0)
        {
            long opened = Interlocked.Increment(ref _readaheadsOpened);
            if (Volatile.Read(ref _continuation) is { } next && opened >= next.DueAt
                && Interlocked.CompareExchange(ref _continuation, null, next) == next)
                ContinueWalk(next.Directory, file);
        }
        if (_inodes.Get(file.ParentInode) is not { Kind: InodeKind.Directory, Contents: { } contents } directory
            || Volatile.Read(ref directory.ReadaheadTaken) != 0
            // An earlier walk stopped well ahead of this file: wait until the reader gets closer.
            || file.ParentIndex + _options.ReadaheadWindowFiles / 2 < Volatile.Read(ref directory.ReadaheadResume)
            || Interlocked.CompareExchange(ref directory.ReadaheadTaken, 1, 0) != 0)
            return;
        StartWalk(directory, contents, Math.Max(file.ParentIndex + 1, Volatile.Read(ref directory.ReadaheadResume)));
    }

    /// <summary>
    /// Starts the next walk where the last one ran out of window, so a depth-first reader finds
    /// files ready all along instead of in bursts: the stopping place is usually a small directory
    /// deep in the tree, and waiting for the reader's first open there meant waiting until it
    /// had used up everything read ahead.
    /// </summary>
    private void ContinueWalk(InodeRecord directory, InodeRecord opened)
    {
        if (directory.IsRetired || directory.Contents is not { } contents
            || Volatile.Read(ref directory.ReadaheadTaken) != 0
            || Interlocked.CompareExchange(ref directory.ReadaheadTaken, 1, 0) != 0)
            return;
        int start = Volatile.Read(ref directory.ReadaheadResume);
        if (opened.ParentInode == directory.Inode)
            start = Math.Max(start, opened.ParentIndex + 1);
        StartWalk(directory, contents, start);
    }

    // Its own method: the lambda's captures would otherwise be allocated on every call of the caller.
    private void StartWalk(InodeRecord directory, DirectoryContents contents, int start)
    {
        if (_readaheadSlots is null)
            Interlocked.CompareExchange(ref _readaheadSlots, new SemaphoreSlim(_options.ReadaheadConcurrency), null);
        Interlocked.Increment(ref _pendingReadaheads);
        long clock = Volatile.Read(ref _readaheadsOpened);
        _ = Task.Run(() => WalkAheadAsync(directory, contents, start, clock));
    }

    /// <summary>What one walk may still start.</summary>
    private sealed class ReadaheadWindow(int files, long bytes, long startedAt)
    {
        public readonly int InitialFiles = files;

        /// <summary>The walks' clock (<see cref="_readaheadsOpened"/>) when this walk started.</summary>
        public readonly long StartedAt = startedAt;

        /// <summary>The first (deepest) directory given back when the window ran out; null while it lasts.</summary>
        public InodeRecord? StoppedIn;

        public int Files = files;
        public long Bytes = bytes;
        public readonly List<Task> Started = [];

        /// <summary>Blobs gathered for one batched fetch into a cache (remote stores).</summary>
        public List<B3Digest>? Batch;

        public bool IsExhausted => Files <= 0 || Bytes <= 0;
    }

    /// <summary>Blobs one batched readahead fetch asks for.</summary>
    private const int ReadaheadBatchBlobs = 64;

    private async Task WalkAheadAsync(InodeRecord directory, DirectoryContents contents, int start, long clock)
    {
        var window = new ReadaheadWindow(_options.ReadaheadWindowFiles, _options.ReadaheadWindowBytes, clock);
        try
        {
            await WalkDirectoryAsync(directory, contents, start, window).ConfigureAwait(false);
            await WalkOnInParentsAsync(directory, window).ConfigureAwait(false);
            if (window.StoppedIn is { } stopped)
            {
                // The next walk is due once readers are halfway through what this one read ahead.
                int reached = window.InitialFiles - Math.Max(window.Files, 0);
                Volatile.Write(ref _continuation, new ReadaheadContinuation(stopped, window.StartedAt + Math.Max(1, reached / 2)));
            }
            await FlushBatchAsync(window).ConfigureAwait(false);
            await Task.WhenAll(window.Started).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Unmounting.
        }
        finally
        {
            Interlocked.Decrement(ref _pendingReadaheads);
        }
    }

    /// <summary>A directory a walk is in, and the entry it is at.</summary>
    private struct WalkFrame(InodeRecord directory, DirectoryContents contents, int index)
    {
        public readonly InodeRecord Directory = directory;
        public readonly DirectoryContents Contents = contents;
        public int Index = index;
    }

    /// <summary>
    /// Starts the directory's files from entry <paramref name="start"/> on and walks into its
    /// subdirectories in listing order, the order tar and cp -r open them in. The caller has taken
    /// the directory; if the window runs out before its end the directory is given back with the
    /// place to resume from, so an open in it near there starts the next walk. Iterative, with
    /// the directories above the current one on an explicit stack: the awaits below complete
    /// synchronously for entries already here, and nesting one call per level would overflow the
    /// thread's stack in a chain of a few thousand directories.
    /// </summary>
    private async Task WalkDirectoryAsync(InodeRecord directory, DirectoryContents contents, int start, ReadaheadWindow window)
    {
        Stack<WalkFrame>? above = null;
        var frame = new WalkFrame(directory, contents, start);
        while (true)
        {
            bool finished = frame.Index >= frame.Contents.Count;
            if (finished || window.IsExhausted || _shutdown.IsCancellationRequested)
            {
                if (finished)
                {
                    Volatile.Write(ref frame.Directory.ReadaheadResume, frame.Contents.Count);
                }
                else
                {
                    Volatile.Write(ref frame.Directory.ReadaheadResume, frame.Index);
                    Volatile.Write(ref frame.Directory.ReadaheadTaken, 0);
                    window.StoppedIn ??= frame.Directory;
                }
                if (above is not { Count: > 0 })
                    return;
                // Back in the parent, after the subdirectory just left.
                frame = above.Pop();
                frame.Index++;
                continue;
            }
            InodeRecord entry = frame.Contents.Record(frame.Index);
            if (entry.Kind == InodeKind.File)
            {
                if (entry.Size > 0 && entry.Size <= _options.ReadaheadMaxFileBytes && entry.Blob is null && !entry.IsRetired)
                {
                    window.Files--;
                    window.Bytes -= entry.Size;
                    Volatile.Write(ref entry.ReadaheadTaken, 1);
                    if (_store.Blobs is IBlobPrefetchTarget cache && !cache.IsHeld(entry.Digest))
                    {
                        // A remote behind a cache: many small files per call instead of a call each
                        // (a blob the cache holds is a local file, read ahead like one below).
                        (window.Batch ??= new List<B3Digest>(ReadaheadBatchBlobs)).Add(entry.Digest);
                        if (window.Batch.Count == ReadaheadBatchBlobs)
                            await FlushBatchAsync(window).ConfigureAwait(false);
                    }
                    else
                    {
                        await _readaheadSlots!.WaitAsync(_shutdown.Token).ConfigureAwait(false);
                        window.Started.Add(ReadAheadOneAsync(entry));
                    }
                }
            }
            else if (entry.Kind == InodeKind.Directory && Volatile.Read(ref entry.ReadaheadTaken) == 0
                && Interlocked.CompareExchange(ref entry.ReadaheadTaken, 1, 0) == 0)
            {
                // What was gathered goes out before waiting on a directory fetch.
                if (entry.Contents is null)
                    await FlushBatchAsync(window).ConfigureAwait(false);
                DirectoryContents? children = await ContentsForReadaheadAsync(entry).ConfigureAwait(false);
                if (children is null)
                {
                    Volatile.Write(ref entry.ReadaheadTaken, 0);
                }
                else
                {
                    // Into the subdirectory; its parent resumes after it.
                    (above ??= new Stack<WalkFrame>()).Push(frame);
                    frame = new WalkFrame(entry, children, Volatile.Read(ref entry.ReadaheadResume));
                    continue;
                }
            }
            frame.Index++;
        }
    }

    /// <summary>
    /// A walk that finished the directory it started in goes on where a depth-first reader goes
    /// next: the parent's entries after that directory, then the grandparent's, and so on up to
    /// the store path's root, for as long as its window lasts and no other walk holds the parent.
    /// Without this, a walk started deep in a tree stopped at its own subtree, and the next one
    /// waited for the reader's first open in a sibling directory (which that open then waited for);
    /// a directory holding only directories never started one at all.
    /// </summary>
    private async Task WalkOnInParentsAsync(InodeRecord directory, ReadaheadWindow window)
    {
        InodeRecord child = directory;
        while (!window.IsExhausted && !_shutdown.IsCancellationRequested && Volatile.Read(ref child.ReadaheadResume) >= ChildCount(child))
        {
            if (child.ParentInode == 0
                || _inodes.Get(child.ParentInode) is not { Kind: InodeKind.Directory, Contents: { } contents } parent
                || Volatile.Read(ref parent.ReadaheadTaken) != 0
                || Interlocked.CompareExchange(ref parent.ReadaheadTaken, 1, 0) != 0)
                return;
            await WalkDirectoryAsync(parent, contents, Math.Max(child.ParentIndex + 1, Volatile.Read(ref parent.ReadaheadResume)), window).ConfigureAwait(false);
            child = parent;
        }
    }

    private static int ChildCount(InodeRecord directory) => directory.Contents?.Count ?? int.MaxValue;

    /// <summary>Starts one batched fetch of the gathered blobs into the cache, taking a readahead slot.</summary>
    private async Task FlushBatchAsync(ReadaheadWindow window)
    {
        if (window.Batch is not { Count: > 0 } batch || _store.Blobs is not IBlobPrefetchTarget target)
            return;
        // Fetched blobs land in the page cache as they are written: nothing to start reading.
        window.Batch = null;
        await _readaheadSlots!.WaitAsync(_shutdown.Token).ConfigureAwait(false);
        window.Started.Add(ReadAheadBatchAsync(target, batch));
    }

    private async Task ReadAheadBatchAsync(IBlobPrefetchTarget target, List<B3Digest> batch)
    {
        try
        {
            await Task.Yield();
            int failed = await target.PrefetchManyAsync(batch, _shutdown.Token).ConfigureAwait(false);
            Interlocked.Add(ref _filesReadAhead, batch.Count - failed);
            if (failed > 0)
                LogReadaheadFailed(failed, batch.Count);
        }
        catch (Exception)
        {
            // Unmounting: the opens that need a file fetch it again and report any failure.
        }
        finally
        {
            _readaheadSlots!.Release();
        }
    }

    private async Task<DirectoryContents?> ContentsForReadaheadAsync(InodeRecord directory)
    {
        try
        {
            DirectoryContents contents = await EnsureContentsAsync(directory).ConfigureAwait(false);
            // A stopped prefetch hands its waiters this marker: fetch for real once.
            if (ReferenceEquals(contents, DirectoryContents.NotPrefetched))
                contents = await EnsureContentsAsync(directory).ConfigureAwait(false);
            return ReferenceEquals(contents, DirectoryContents.NotPrefetched) ? null : contents;
        }
        catch (Exception)
        {
            // Best effort: a request that needs the directory fetches it and reports a failure.
            return null;
        }
    }

    private async Task ReadAheadOneAsync(InodeRecord file)
    {
        try
        {
            await Task.Yield(); // off the walk, so several run at once
            // Through the record's shared slot: an open arriving meanwhile waits for this same fetch.
            OpenBlob blob = await EnsureBlobAsync(file).ConfigureAwait(false);
            if (blob.LocalFile is { } local)
                LibcCalls.StartReadingIntoPageCache(local);
            Interlocked.Increment(ref _filesReadAhead);
            lock (file)
            {
                // Not opened by now and over the idle budget: like a released file, it keeps no descriptor.
                if (file.OpenFiles == 0 && Volatile.Read(ref _localBlobs) > IdleLocalBlobBudget())
                    DropBlob(file);
            }
        }
        catch (Exception)
        {
            // Best effort: the open that needs the file fetches it again and reports any failure.
        }
        finally
        {
            _readaheadSlots!.Release();
        }
    }

    /// <summary>
    /// Called when a listing of a directory starts (readdir at offset 0): the first time, fetches
    /// the entries of its subdirectories in the background, a few at once, so a depth-first walk
    /// (find, du, tar) finds the next level ready or on its way instead of reading one directory
    /// after another. One level only: each subdirectory's own listing starts the next.
    /// </summary>
    private void StartSubdirectoryReadahead(InodeRecord directory, DirectoryContents contents)
    {
        if (_options.ReadaheadConcurrency <= 0 || Volatile.Read(ref directory.SubdirectoriesRequested) != 0
            || Interlocked.CompareExchange(ref directory.SubdirectoriesRequested, 1, 0) != 0 || _shutdown.IsCancellationRequested)
            return;
        StartSubdirectoryFetches(contents);
    }

    // Its own method: the lambda's captures would otherwise be allocated on every listing.
    private void StartSubdirectoryFetches(DirectoryContents contents)
    {
        if (_readaheadSlots is null)
            Interlocked.CompareExchange(ref _readaheadSlots, new SemaphoreSlim(_options.ReadaheadConcurrency), null);
        Interlocked.Increment(ref _pendingReadaheads);
        _ = Task.Run(() => FetchSubdirectoriesAsync(contents));
    }

    private async Task FetchSubdirectoriesAsync(DirectoryContents contents)
    {
        try
        {
            var started = new List<Task>();
            for (int i = 0; i < contents.Count; i++)
            {
                if (contents.Record(i) is not { Kind: InodeKind.Directory, Contents: null } subdirectory
                    || Volatile.Read(ref subdirectory.ContentsFetch) is not null || subdirectory.IsRetired)
                    continue;
                await _readaheadSlots!.WaitAsync(_shutdown.Token).ConfigureAwait(false);
                started.Add(FetchSubdirectoryAsync(subdirectory));
            }
            await Task.WhenAll(started).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Unmounting.
        }
        finally
        {
            Interlocked.Decrement(ref _pendingReadaheads);
        }
    }

    private async Task FetchSubdirectoryAsync(InodeRecord subdirectory)
    {
        try
        {
            await Task.Yield();
            await ContentsForReadaheadAsync(subdirectory).ConfigureAwait(false);
        }
        finally
        {
            _readaheadSlots!.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "readahead of {Failed} of {Count} blobs failed (their opens fetch them again)")]
    private partial void LogReadaheadFailed(int failed, int count);
}
