using Microsoft.Extensions.Logging;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Filesystem;

/// <summary>
/// Tree readahead: the first open in a directory starts a background walk that opens (or, over a
/// cache, batch-fetches) the files a depth-first reader reads next, kept ahead of the reader; a
/// listing starts fetching its subdirectories' entries. Its state is its own: the walks' clock
/// and continuation here, and each record's place (<see cref="Place"/>, held by the record). It
/// reaches the filesystem only through the two callbacks it is given.
/// </summary>
internal sealed partial class TreeReadahead
{
    private readonly StoreFilesystemOptions _options;
    private readonly InodeTable _inodes;
    private readonly IBlobService _blobs;
    private readonly Func<InodeRecord, Task<DirectoryContents>> _contents;
    private readonly Func<InodeRecord, Task> _readAheadFile;
    private readonly CancellationToken _shutdown;
    private readonly ILogger _logger;

    /// <param name="contents">A directory's entries, fetched as a request would (shared with requests).</param>
    /// <param name="readAheadFile">Opens a file's blob through its slot and starts a local one into the page cache.</param>
    public TreeReadahead(StoreFilesystemOptions options, InodeTable inodes, IBlobService blobs,
        Func<InodeRecord, Task<DirectoryContents>> contents, Func<InodeRecord, Task> readAheadFile, CancellationToken shutdown, ILogger logger)
    {
        _options = options;
        _inodes = inodes;
        _blobs = blobs;
        _contents = contents;
        _readAheadFile = readAheadFile;
        _shutdown = shutdown;
        _logger = logger;
    }

    /// <summary>
    /// A record's place in tree readahead, held by the record (files and directories): where it
    /// sits in a listing, and whether a walk holds it. Changed only through these methods.
    /// </summary>
    internal struct Place
    {
        private ulong _parentInode;
        private int _parentIndex;
        // Directories: 1 while a walk holds the directory (and for good once one has walked all
        // of it). Files: 1 from when a walk read the file ahead until its first open.
        private int _taken;
        private int _resume;
        private int _subdirectoriesRequested;

        /// <summary>
        /// The inode number of a directory listing this entry (the first one whose entries were
        /// built; content-addressed entries may sit in several); 0 when unknown (a store path's root).
        /// </summary>
        public readonly ulong ParentInode => _parentInode;

        /// <summary>The entry's index in <see cref="ParentInode"/>'s listing.</summary>
        public readonly int ParentIndex => _parentIndex;

        /// <summary>Directories: where a walk that ran out of its window stopped; the next walk resumes there.</summary>
        public int Resume
        {
            get => Volatile.Read(ref _resume);
            set => Volatile.Write(ref _resume, value);
        }

        public bool IsTaken => Volatile.Read(ref _taken) != 0;

        internal void SetParent(ulong parentInode, int index)
        {
            _parentIndex = index;
            _parentInode = parentInode;
        }

        /// <summary>Takes the directory for a walk; false when another holds it (or walked all of it).</summary>
        public bool TryTake() => Volatile.Read(ref _taken) == 0 && Interlocked.CompareExchange(ref _taken, 1, 0) == 0;

        /// <summary>Gives a directory back (its walk stopped before its end), or marks a file read ahead (1).</summary>
        public void SetTaken(bool taken) => Volatile.Write(ref _taken, taken ? 1 : 0);

        /// <summary>A file's first open after a walk read it ahead: true once (read first, so repeated opens write nothing).</summary>
        public bool TryClearReadAhead() => Volatile.Read(ref _taken) != 0 && Interlocked.Exchange(ref _taken, 0) != 0;

        /// <summary>True the first time a listing of the directory asks for its subdirectories.</summary>
        public bool TryRequestSubdirectories() =>
            Volatile.Read(ref _subdirectoriesRequested) == 0 && Interlocked.CompareExchange(ref _subdirectoriesRequested, 1, 0) == 0;
    }

    /// <summary>Records each entry's place in <paramref name="directory"/>'s listing (the first listing built for it wins).</summary>
    public static void NoteParents(InodeRecord directory, DirectoryContents contents)
    {
        for (int i = 0; i < contents.Count; i++)
        {
            InodeRecord entry = contents.Record(i);
            if (entry.Kind is InodeKind.File or InodeKind.Directory && entry.Readahead.ParentInode == 0)
                entry.Readahead.SetParent(directory.Inode, i);
        }
    }

    private SemaphoreSlim? _readaheadSlots;

    private int _pendingReadaheads;

    /// <summary>Tree readahead walks still running (for tests and shutdown).</summary>
    public int Pending => Volatile.Read(ref _pendingReadaheads);

    /// <summary>Waits (polling) until no walk runs or <paramref name="limit"/> has passed (at unmount, after cancelling).</summary>
    public void WaitForWalks(TimeSpan limit)
    {
        DateTime giveUp = DateTime.UtcNow + limit;
        while (Volatile.Read(ref _pendingReadaheads) > 0 && DateTime.UtcNow < giveUp)
            Thread.Sleep(10);
    }

    private long _filesReadAhead;

    /// <summary>Files tree readahead has opened (and, when local, started reading into the page cache).</summary>
    public long FilesReadAhead => Volatile.Read(ref _filesReadAhead);

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
    public void OnOpen(InodeRecord file)
    {
        ref Place place = ref file.Readahead;
        if (_options.ReadaheadConcurrency <= 0 || place.ParentInode == 0 || _shutdown.IsCancellationRequested)
            return;
        if (place.TryClearReadAhead())
        {
            long opened = Interlocked.Increment(ref _readaheadsOpened);
            if (Volatile.Read(ref _continuation) is { } next && opened >= next.DueAt
                && Interlocked.CompareExchange(ref _continuation, null, next) == next)
                ContinueWalk(next.Directory, file);
        }
        if (_inodes.Get(place.ParentInode) is not { Kind: InodeKind.Directory, Contents: { } contents } directory
            || directory.Readahead.IsTaken
            // An earlier walk stopped well ahead of this file: wait until the reader gets closer.
            || place.ParentIndex + _options.ReadaheadWindowFiles / 2 < directory.Readahead.Resume
            || !directory.Readahead.TryTake())
            return;
        StartWalk(directory, contents, Math.Max(place.ParentIndex + 1, directory.Readahead.Resume));
    }

    /// <summary>
    /// Starts the next walk where the last one ran out of window, so a depth-first reader finds
    /// files ready all along instead of in bursts: the stopping place is usually a small directory
    /// deep in the tree, and waiting for the reader's first open there meant waiting until it
    /// had used up everything read ahead.
    /// </summary>
    private void ContinueWalk(InodeRecord directory, InodeRecord opened)
    {
        if (directory.IsRetired || directory.Contents is not { } contents || !directory.Readahead.TryTake())
            return;
        int start = directory.Readahead.Resume;
        if (opened.Readahead.ParentInode == directory.Inode)
            start = Math.Max(start, opened.Readahead.ParentIndex + 1);
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
                    frame.Directory.Readahead.Resume = frame.Contents.Count;
                }
                else
                {
                    frame.Directory.Readahead.Resume = frame.Index;
                    frame.Directory.Readahead.SetTaken(false);
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
                if (entry.Size > 0 && entry.Size <= _options.ReadaheadMaxFileBytes && entry.BlobsIfUsed is not { HasBlob: true } && !entry.IsRetired)
                {
                    window.Files--;
                    window.Bytes -= entry.Size;
                    entry.Readahead.SetTaken(true);
                    if (_blobs is IBlobPrefetchTarget cache && !cache.IsHeld(entry.Digest))
                    {
                        // A remote behind a cache: many small files per call instead of a call each
                        // (a blob the cache holds is a local file, read ahead like one below).
                        (window.Batch ??= new List<B3Digest>(ReadaheadBatchBlobs)).Add(entry.Digest);
                        if (window.Batch.Count == ReadaheadBatchBlobs)
                            await FlushBatchAsync(window).ConfigureAwait(false);
                    }
                    else
                    {
                        await _readaheadSlots!.WaitAsync(_shutdown).ConfigureAwait(false);
                        window.Started.Add(ReadAheadOneAsync(entry));
                    }
                }
            }
            else if (entry.Kind == InodeKind.Directory && entry.Readahead.TryTake())
            {
                // What was gathered goes out before waiting on a directory fetch.
                if (entry.Contents is null)
                    await FlushBatchAsync(window).ConfigureAwait(false);
                DirectoryContents? children = await ContentsForReadaheadAsync(entry).ConfigureAwait(false);
                if (children is null)
                {
                    entry.Readahead.SetTaken(false);
                }
                else
                {
                    // Into the subdirectory; its parent resumes after it.
                    (above ??= new Stack<WalkFrame>()).Push(frame);
                    frame = new WalkFrame(entry, children, entry.Readahead.Resume);
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
        while (!window.IsExhausted && !_shutdown.IsCancellationRequested && child.Readahead.Resume >= ChildCount(child))
        {
            if (child.Readahead.ParentInode == 0
                || _inodes.Get(child.Readahead.ParentInode) is not { Kind: InodeKind.Directory, Contents: { } contents } parent
                || !parent.Readahead.TryTake())
                return;
            await WalkDirectoryAsync(parent, contents, Math.Max(child.Readahead.ParentIndex + 1, parent.Readahead.Resume), window).ConfigureAwait(false);
            child = parent;
        }
    }

    private static int ChildCount(InodeRecord directory) => directory.Contents?.Count ?? int.MaxValue;

    /// <summary>Starts one batched fetch of the gathered blobs into the cache, taking a readahead slot.</summary>
    private async Task FlushBatchAsync(ReadaheadWindow window)
    {
        if (window.Batch is not { Count: > 0 } batch || _blobs is not IBlobPrefetchTarget target)
            return;
        // Fetched blobs land in the page cache as they are written: nothing to start reading.
        window.Batch = null;
        await _readaheadSlots!.WaitAsync(_shutdown).ConfigureAwait(false);
        window.Started.Add(ReadAheadBatchAsync(target, batch));
    }

    private async Task ReadAheadBatchAsync(IBlobPrefetchTarget target, List<B3Digest> batch)
    {
        try
        {
            await Task.Yield();
            int failed = await target.PrefetchManyAsync(batch, _shutdown).ConfigureAwait(false);
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
            DirectoryContents contents = await _contents(directory).ConfigureAwait(false);
            // A stopped prefetch hands its waiters this marker: fetch for real once.
            if (ReferenceEquals(contents, DirectoryContents.NotPrefetched))
                contents = await _contents(directory).ConfigureAwait(false);
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
            await _readAheadFile(file).ConfigureAwait(false);
            Interlocked.Increment(ref _filesReadAhead);
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
    public void OnListing(InodeRecord directory, DirectoryContents contents)
    {
        if (_options.ReadaheadConcurrency <= 0 || !directory.Readahead.TryRequestSubdirectories() || _shutdown.IsCancellationRequested)
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
                    || subdirectory.HasContentsFetch || subdirectory.IsRetired)
                    continue;
                await _readaheadSlots!.WaitAsync(_shutdown).ConfigureAwait(false);
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
