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

    private const long BlockSize = 4096;
    private const uint ReadOnlyDirectoryMode = 0x16D; // 0555
    private const uint ReadOnlyFileMode = 0x124;      // 0444
    private const uint ExecutableFileMode = 0x16D;    // 0555

    private readonly StoreServices _store;
    private readonly SessionReplySink _reply;
    private readonly StoreFilesystemOptions _options;
    private readonly ILogger _logger;
    private readonly InodeTable _inodes = new();
    private readonly double _timeout;

    // Store paths found so far, by the hash part of their name. Absent paths are not remembered,
    // so a path imported while mounted appears at its next lookup.
    private readonly ConcurrentDictionary<StorePathHash, RootEntry> _rootEntries = new();
    private readonly ConcurrentDictionary<StorePathHash, Task<RootEntry?>> _pathInfoFetches = new();

    public StoreFilesystem(StoreServices store, IFuseReplySink reply, StoreFilesystemOptions options, ILogger logger)
    {
        _store = store;
        _reply = new SessionReplySink(reply);
        _options = options;
        _logger = logger;
        _timeout = options.CacheTimeoutSeconds;
    }

    /// <summary>The capabilities asked for in <see cref="Init"/>, after masking by what the kernel offers.</summary>
    public uint NegotiatedCapabilities { get; private set; }

    internal InodeTable Inodes => _inodes;

    // ------------------------------------------------------------------ session

    public unsafe void Init(FuseConnInfo* connection)
    {
        connection->Want |= FuseCapabilities.Wanted & connection->Capable;
        connection->Want &= ~FuseCapabilities.Unwanted;
        // More requests in flight in the background (readahead, async reads) than the default 12.
        connection->MaxBackground = Math.Max(connection->MaxBackground, 64u);
        NegotiatedCapabilities = connection->Want;
        LogInit(connection->ProtoMajor, connection->ProtoMinor, connection->Want, connection->MaxReadahead);
    }

    public void Destroy()
    {
        // libfuse frees the session after this returns: let requests still waiting on the backend
        // answer for a few seconds, then drop any later reply (the kernel has given up on them).
        WaitForPendingRequests(_options.ShutdownGrace);
        _reply.Close();
        WaitForPendingRequests(TimeSpan.FromSeconds(1)); // a reply that passed the check just before Close
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

    private void WaitForPendingRequests(TimeSpan limit)
    {
        DateTime giveUp = DateTime.UtcNow + limit;
        while (Volatile.Read(ref _pendingRequests) > 0 && DateTime.UtcNow < giveUp)
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
        // The record itself stays (its number is its content's for the whole mount); what the
        // kernel no longer references is the open blob, so its descriptor goes.
        if (record.Forget(count) <= 0)
            DropBlob(record);
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

    public void Modify(FuseRequest request, FuseModifyOperation operation) => _reply.Err(request, Errno.EROFS);

    /// <summary>Attributes of an inode: read-only modes, owner root, all times 0.</summary>
    internal static void FillAttributes(InodeRecord record, ref Stat stat)
    {
        stat.Ino = record.Inode;
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

    private void ReplyEntry(FuseRequest request, InodeRecord record)
    {
        FuseEntryParam entry = default;
        entry.Ino = record.Inode;
        entry.AttrTimeout = _timeout;
        entry.EntryTimeout = _timeout;
        FillAttributes(record, ref entry.Attr);
        // Counted before the reply: the kernel may forget the entry as soon as it has it.
        record.AddLookup();
        _reply.Entry(request, in entry);
    }

    /// <summary>The inode a PathInfo's (validated) root node stands for.</summary>
    private InodeRecord RecordFor(TvixLowFs.Protos.Castore.Node node) => node.NodeCase switch
    {
        TvixLowFs.Protos.Castore.Node.NodeOneofCase.Directory =>
            _inodes.GetOrAddDirectory(B3Digest.FromByteString(node.Directory.Digest), checked((long)node.Directory.Size)),
        TvixLowFs.Protos.Castore.Node.NodeOneofCase.File =>
            _inodes.GetOrAddFile(B3Digest.FromByteString(node.File.Digest), checked((long)node.File.Size), node.File.Executable),
        TvixLowFs.Protos.Castore.Node.NodeOneofCase.Symlink =>
            _inodes.GetOrAddSymlink(DirectoryContents.WithNul(node.Symlink.Target.Span)),
        _ => throw new StoreValidationException("PathInfo has no root node"),
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
