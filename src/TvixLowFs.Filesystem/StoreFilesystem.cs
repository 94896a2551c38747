using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Filesystem;

/// <summary>
/// The store as a read-only filesystem: one handler per FUSE operation, each ending in exactly
/// one reply on every path. Requests that can be answered from memory are answered at once,
/// allocation-free, from stack buffers; a miss (a Directory, PathInfo or blob not fetched yet)
/// starts one shared fetch on the thread pool and the request is answered from its continuation,
/// so no FUSE thread waits on the backend. Backend failures and corrupt data answer EIO and are
/// logged once per fetch with the digest.
/// </summary>
public sealed partial class StoreFilesystem : IFuseOperations
{
    /// <summary>FUSE_ROOT_ID.</summary>
    public const ulong RootInode = 1;

    /// <summary>
    /// Readahead wanted for sequential reads, so one read request carries 512 KiB. Not the 1 MiB a
    /// request may carry (max_pages 256): a 1 MiB reply plus its header does not fit the default
    /// pipe-max-size (1 MiB), so libfuse would copy it instead of splicing (measured, cold dd bs=1M:
    /// 0.5–1.1 GB/s at 1 MiB against 1.2–1.9 GB/s at 512 KiB and at the default 128 KiB).
    /// </summary>
    public const int ReadaheadBytes = 512 << 10;

    private const long BlockSize = 4096;
    private const uint ReadOnlyDirectoryMode = 0x16D; // 0555
    private const uint ReadOnlyFileMode = 0x124;      // 0444
    private const uint ExecutableFileMode = 0x16D;    // 0555

    private readonly StoreServices _store;
    private readonly IFuseReplySink _reply;
    private readonly StoreFilesystemOptions _options;
    private readonly ILogger _logger;
    private readonly InodeTable _inodes;
    private readonly double _timeout;

    // Store paths found so far, by the hash part of their name. Absent paths are not remembered,
    // so a path imported while mounted appears at its next lookup.
    private readonly ConcurrentDictionary<StorePathHash, RootEntry> _rootEntries = new();
    private readonly ConcurrentDictionary<StorePathHash, Task<RootEntry?>> _pathInfoFetches = new();

    public StoreFilesystem(StoreServices store, IFuseReplySink reply, StoreFilesystemOptions options, ILogger logger)
    {
        _store = store;
        _reply = reply;
        _options = options;
        _logger = logger;
        _timeout = options.CacheTimeoutSeconds;
        _inodes = new InodeTable(options.ForgottenInodes, ReleaseRetired);
        _prefetch = new ClosurePrefetch(store.Directories, _inodes, options, PublishContents, _shutdown.Token, logger);
        _treeReadahead = new TreeReadahead(options, _inodes, store.Blobs, EnsureContentsAsync, ReadAheadFileAsync, _shutdown.Token, logger);
        _passthroughFor = PassthroughFor;
        _overIdleBudget = OverIdleBudget;
    }

    /// <summary>The capabilities asked for in <see cref="Init"/>, after masking by what the kernel offers.</summary>
    public uint NegotiatedCapabilities { get; private set; }

    internal InodeTable Inodes => _inodes;

    // Background work, each with state of its own; cancelled at destroy.
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ClosurePrefetch _prefetch;

    /// <summary>Closure prefetches still running (for tests).</summary>
    internal int PendingPrefetches => _prefetch.Pending;

    private readonly TreeReadahead _treeReadahead;

    /// <summary>Tree readahead walks still running (for tests).</summary>
    internal int PendingReadaheads => _treeReadahead.Pending;

    /// <summary>Files tree readahead has opened (and, when local, started reading into the page cache).</summary>
    internal long FilesReadAhead => _treeReadahead.FilesReadAhead;

    // ------------------------------------------------------------------ session

    public unsafe void Init(FuseConnInfo* connection)
    {
        connection->Want |= FuseCapabilities.Wanted & connection->Capable;
        connection->Want &= ~FuseCapabilities.Unwanted;
        // More requests in flight in the background (readahead, async reads) than the default 12.
        connection->MaxBackground = Math.Max(connection->MaxBackground, 64u);
        // The kernel offers its device's current readahead (128 KiB by default) and keeps the
        // smaller of that and the reply: asking for ReadaheadBytes keeps a readahead raised
        // through sysfs (TvixLowFs.Fuse.MountPoint.RaiseReadahead) from being lowered by this reply.
        connection->MaxReadahead = Math.Max(connection->MaxReadahead, (uint)ReadaheadBytes);
        NegotiatedCapabilities = connection->Want;
        LogInit(connection->ProtoMajor, connection->ProtoMinor, connection->Want, connection->MaxReadahead);
    }

    public void Destroy()
    {
        // Background prefetches stop first; they never hold a request up.
        _shutdown.Cancel();
        // The session calls this before it closes /dev/fuse: requests still waiting on the backend
        // are answered while the grace period lasts.
        WaitForPendingRequests(_options.ShutdownGrace);
        AnswerAbandonedRequests();
        // Readaheads stop at their next file once cancelled; a fetch in flight ends within its
        // deadline. Waited for so that no blob they open outlives the drop below.
        _treeReadahead.WaitForWalks(_options.ShutdownGrace);
        LogReadaheadTotals(FilesReadAhead);
        // No request can use an open blob any more.
        foreach (InodeRecord file in _inodes.Files)
            DropBlob(file);
    }

    /// <summary>Requests handed to a continuation and not answered yet.</summary>
    private int _pendingRequests;

    internal int PendingRequests => Volatile.Read(ref _pendingRequests);

    /// <summary>Keeps count of a request answered from a continuation until it is answered.</summary>
    private void Track(Task answering)
    {
        if (!answering.IsCompleted)
            _ = TrackAsync(answering);
    }

    private async Task TrackAsync(Task answering)
    {
        Interlocked.Increment(ref _pendingRequests);
        try
        {
            await answering.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Continuations answer their own failures; this is a bug, but must not go unobserved.
            LogUnexpected(e.Message);
        }
        finally
        {
            Interlocked.Decrement(ref _pendingRequests);
        }
    }

    private void WaitForPendingRequests(TimeSpan limit) => WaitUntilZero(ref _pendingRequests, limit);

    // Cancelled when the shutdown grace is over: every wait on the backend (PathInfo, Directory,
    // blob open and read) gives up at once, whether or not the backend honours cancellation.
    private readonly CancellationTokenSource _abandoned = new();

    /// <summary>How long requests whose backend waits were abandoned get to send their EIO.</summary>
    internal static TimeSpan AbandonedAnswerLimit { get; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Fails what still waits on the backend after the grace, so each waiting request answers EIO
    /// through its own failure path (exactly one reply, as on any backend failure) while the
    /// channel is open: the session closes its reply sink, then /dev/fuse, when Destroy returns, and
    /// the kernel would fail what is left with ENOTCONN instead.
    /// </summary>
    private void AnswerAbandonedRequests()
    {
        if (PendingRequests == 0)
            return;
        _abandoned.Cancel();
        WaitForPendingRequests(AbandonedAnswerLimit);
    }

    /// <summary>Waits (polling) until <paramref name="count"/> is 0 or <paramref name="limit"/> has passed.</summary>
    private static void WaitUntilZero(ref int count, TimeSpan limit)
    {
        DateTime giveUp = DateTime.UtcNow + limit;
        while (Volatile.Read(ref count) > 0 && DateTime.UtcNow < giveUp)
            Thread.Sleep(10);
    }

    // ------------------------------------------------------------------ inodes

    public void Forget(FuseRequest request, ulong inode, ulong lookupCount)
    {
        ForgetOne(inode, lookupCount);
        _reply.None(request);
    }

    public void ForgetMulti(FuseRequest request, ReadOnlySpan<FuseForgetData> forgets)
    {
        foreach (ref readonly FuseForgetData forget in forgets)
            ForgetOne(forget.Ino, forget.Nlookup);
        _reply.None(request);
    }

    private void ForgetOne(ulong inode, ulong count)
    {
        if (inode == RootInode || _inodes.Get(inode) is not { } record)
            return;
        ForgetRecord(record, count);
    }

    private void ForgetRecord(InodeRecord record, ulong count)
    {
        // What the kernel no longer references: the open blob's descriptor goes at once; the
        // record waits among the recently forgotten (a walk often comes back) and is retired
        // when it falls out of that queue.
        if (record.Forget(count) <= 0)
        {
            DropBlob(record);
            _inodes.QueueForgotten(record);
        }
    }

    /// <summary>
    /// What retiring a record (<see cref="InodeTable.QueueForgotten"/>) drops besides the table's
    /// own: its blob, and the store paths' root entries naming it.
    /// </summary>
    private void ReleaseRetired(InodeRecord retired)
    {
        DropBlob(retired);
        DropStorePaths(retired);
    }

    private void DropStorePaths(InodeRecord retired)
    {
        // Taken once retired: no store path can be added to the record after this.
        foreach (KeyValuePair<StorePathHash, RootEntry> entry in retired.TakeStorePaths())
            _rootEntries.TryRemove(entry);
    }

    /// <summary>
    /// Counts one reference to the content of <paramref name="record"/> given to the kernel, and
    /// returns the record that carries it: <paramref name="record"/>, or when that was retired the
    /// table's current record for the same content. Counted before the reply is sent, so the
    /// record cannot be retired while the kernel may hold its number.
    /// </summary>
    private InodeRecord Reference(InodeRecord record)
    {
        while (!record.TryAddLookup())
            record = _inodes.Recreate(record);
        return record;
    }

    public unsafe void GetAttr(FuseRequest request, ulong inode, FuseFileInfo* fileInfo)
    {
        if (_inodes.Get(inode) is not { } record)
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        Stat attributes = default;
        FillAttributes(record, ref attributes);
        _reply.Attr(request, in attributes, _timeout);
    }

    public void ReadLink(FuseRequest request, ulong inode)
    {
        if (_inodes.Get(inode) is not { SymlinkTargetWithNul: { } target })
        {
            _reply.Err(request, _inodes.Get(inode) is null ? Errno.ENOENT : Errno.EINVAL);
            return;
        }
        _reply.ReadLink(request, target);
    }

    public void StatFs(FuseRequest request, ulong inode)
    {
        StatVfs stat = default;
        stat.Bsize = BlockSize;
        stat.Frsize = BlockSize;
        stat.Files = (ulong)_inodes.Count + 1;
        stat.Namemax = 255;
        stat.Flag = 1 | 2; // ST_RDONLY | ST_NOSUID
        _reply.StatFs(request, in stat);
    }

    public void Access(FuseRequest request, ulong inode, int mask)
    {
        const int W_OK = 2;
        if (_inodes.Get(inode) is null)
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        _reply.Err(request, (mask & W_OK) != 0 ? Errno.EROFS : 0);
    }

    /// <summary>
    /// Every write-type request is EROFS, except fsync and fsyncdir: like read-only ext4 and
    /// squashfs, there is nothing to write back, so they succeed (a program that syncs what it
    /// only read must not fail).
    /// </summary>
    public void Modify(FuseRequest request, FuseModifyOperation operation) =>
        _reply.Err(request, operation is FuseModifyOperation.Fsync or FuseModifyOperation.FsyncDir ? 0 : Errno.EROFS);

    /// <summary>
    /// The time of every inode: 1 s after the epoch, as Nix canonicalises every store file, so tools
    /// comparing modification times (Python's .pyc checks, make) see what a real /nix/store shows.
    /// atime and ctime are the same (never later than mtime).
    /// </summary>
    internal const long StoreTimeSeconds = 1;

    /// <summary>Attributes of an inode: read-only modes, owner root, times <see cref="StoreTimeSeconds"/>.</summary>
    internal static void FillAttributes(InodeRecord record, ref Stat stat)
    {
        stat.Ino = record.Inode;
        SetStoreTimes(ref stat);
        stat.Size = record.Size;
        switch (record.Kind)
        {
            case InodeKind.Directory:
                stat.Mode = FileType.Directory | ReadOnlyDirectoryMode;
                stat.Nlink = 2;
                break;
            case InodeKind.File:
                stat.Mode = FileType.Regular | (record.Executable ? ExecutableFileMode : ReadOnlyFileMode);
                stat.Nlink = 1;
                break;
            default:
                stat.Mode = FileType.Symlink | ReadOnlyFileMode;
                stat.Nlink = 1;
                break;
        }
        stat.Blksize = BlockSize;
        stat.Blocks = (record.Size + 511) / 512;
    }

    internal static void SetStoreTimes(ref Stat stat)
    {
        stat.Atime.Seconds = StoreTimeSeconds;
        stat.Mtime.Seconds = StoreTimeSeconds;
        stat.Ctime.Seconds = StoreTimeSeconds;
    }

    /// <summary>Replies with the entry of <paramref name="record"/>'s content; returns the record it referenced.</summary>
    private InodeRecord ReplyEntry(FuseRequest request, InodeRecord record)
    {
        // Counted before the reply: the kernel may forget the entry as soon as it has it.
        record = Reference(record);
        FuseEntryParam entry = default;
        entry.Ino = record.Inode;
        entry.AttrTimeout = _timeout;
        entry.EntryTimeout = _timeout;
        FillAttributes(record, ref entry.Attr);
        // Not delivered (the kernel gave up on the request): it will never forget this reference.
        if (_reply.Entry(request, in entry) != 0)
            ForgetRecord(record, 1);
        return record;
    }

    /// <summary>
    /// Takes back the lookups a readdirplus page counted when the kernel refused the page: one per
    /// entry with a node id (the dot entries carry none).
    /// </summary>
    private void ForgetPlusPage(ReadOnlySpan<byte> page)
    {
        int offset = 0;
        while (FuseDirectoryBuffer.NextPlusEntry(page, ref offset, out ulong nodeId))
        {
            if (nodeId != 0 && nodeId != RootInode && _inodes.Get(nodeId) is { } record)
                ForgetRecord(record, 1);
        }
    }

    /// <summary>The inode a PathInfo's (validated) root node stands for.</summary>
    private InodeRecord RecordFor(CastoreNode node) => node switch
    {
        DirectoryEntry directory => _inodes.GetOrAddDirectory(directory.Digest, checked((long)directory.Size)),
        FileEntry file => _inodes.GetOrAddFile(file.Digest, checked((long)file.Size), file.Executable),
        SymlinkEntry symlink => _inodes.GetOrAddSymlink(DirectoryContents.WithNul(symlink.Target.Span)),
        _ => throw new StoreValidationException($"a root node of kind {node.Kind}"),
    };

    /// <summary>
    /// The deadline of one backend call: the token asks the service to stop, and the call is also
    /// awaited with the same timeout so a service that ignores its token still yields EIO.
    /// </summary>
    private CancellationTokenSource BackendDeadline() => new(_options.BackendTimeout);
}

/// <summary>The capabilities this filesystem negotiates.</summary>
internal static class FuseCapabilities
{
    /// <summary>Immutable content: splice reads, readdirplus, symlink caching, parallel directory operations.</summary>
    public const uint Wanted = (uint)(FuseCapability.AsyncRead | FuseCapability.SpliceWrite | FuseCapability.SpliceMove
        | FuseCapability.ReaddirPlus | FuseCapability.ParallelDirops | FuseCapability.CacheSymlinks);

    /// <summary>
    /// READDIRPLUS_AUTO would fall back to plain readdir after the first page, costing a lookup per
    /// entry for stat-heavy walks; AUTO_INVAL_DATA only matters for content that can change;
    /// SPLICE_READ (libfuse turns it on because write_buf is registered, to answer it with EROFS)
    /// would splice every incoming request through a pipe, extra syscalls for nothing when
    /// there are no writes to receive.
    /// </summary>
    public const uint Unwanted = (uint)(FuseCapability.ReaddirPlusAuto | FuseCapability.AutoInvalData | FuseCapability.SpliceRead);
}
