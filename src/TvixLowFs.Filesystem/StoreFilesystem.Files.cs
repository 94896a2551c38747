using System.Buffers;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Filesystem;

// open, read, release: one open blob per file inode, local blobs spliced from their descriptor.
public sealed partial class StoreFilesystem
{
    private readonly long[] _readRequestSizes = new long[31];

    /// <summary>Read requests seen, by size: entry <c>i</c> counts sizes in [2^i, 2^(i+1)).</summary>
    internal ReadOnlySpan<long> ReadRequestSizes => _readRequestSizes;

    /// <summary>Open blobs holding a local file descriptor.</summary>
    private int _localBlobs;

    /// <summary>Open blobs holding a local file descriptor (for tests).</summary>
    internal int LocalBlobsOpen => Volatile.Read(ref _localBlobs);

    public unsafe void Open(FuseRequest request, ulong inode, FuseFileInfo* fileInfo)
    {
        if (_inodes.Get(inode) is not { } record)
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        if (record.Kind != InodeKind.File)
        {
            _reply.Err(request, record.Kind == InodeKind.Directory ? Errno.EISDIR : Errno.ELOOP);
            return;
        }
        if (OpenFlags.WantsWrite(fileInfo->Flags))
        {
            _reply.Err(request, Errno.EROFS);
            return;
        }

        FuseFileInfo opened = *fileInfo;
        opened.Fh = 0; // reads find the blob through the inode
        opened.KeepCache = true; // immutable: the page cache stays valid across opens
        opened.Noflush = true; // nothing to flush on close
        StartTreeReadahead(record);
        if (record.Blob is { } blob && TryReplyOpen(request, record, blob, in opened))
            return;
        Track(OpenAfterFetchAsync(request, record, opened));
    }

    private async Task OpenAfterFetchAsync(FuseRequest request, InodeRecord record, FuseFileInfo opened)
    {
        for (int attempt = 0; attempt < 5; attempt++)
        {
            OpenBlob blob;
            try
            {
                blob = await EnsureBlobAsync(record).ConfigureAwait(false);
            }
            catch (Exception)
            {
                _reply.Err(request, Errno.EIO);
                return;
            }
            if (TryReplyOpen(request, record, blob, in opened))
                return;
            // Its last file was released and the blob dropped in between: open it again.
        }
        _reply.Err(request, Errno.EIO);
    }

    /// <summary>
    /// Counts the open and answers it, unless <paramref name="blob"/> is no longer the record's
    /// (dropped by a racing last release): false, and nothing is answered. Opens and releases of
    /// one inode take the record's lock, so a blob (and its backing id) is only dropped when no
    /// open file of the inode is left in the kernel either: every passthrough open of an inode
    /// must name the backing file its other open files use.
    /// </summary>
    private bool TryReplyOpen(FuseRequest request, InodeRecord record, OpenBlob blob, in FuseFileInfo opened)
    {
        int backingId;
        lock (record)
        {
            if (!ReferenceEquals(record.Blob, blob))
                return false;
            backingId = PassthroughFor(record, blob);
            if (backingId >= 0)
                record.AddOpenFile(1);
        }
        int result;
        if (backingId > 0)
            result = _reply.OpenPassthrough(request, in opened, backingId);
        else if (backingId == 0)
            result = _reply.Open(request, in opened);
        else
            result = _reply.Err(request, Errno.EIO);
        // Not delivered (the kernel gave up on the request): no release will come for this open.
        if (result != 0 && backingId >= 0)
            CloseOpenFile(record);
        return true;
    }

    /// <summary>Set once the kernel has refused passthrough for a reason that holds for every file (no privilege, no support).</summary>
    private volatile bool _passthroughRefused;
    private int _passthroughReported;

    /// <summary>
    /// The backing id to answer an open with (&gt; 0), 0 for an ordinary open, or -1 when the
    /// inode uses passthrough but this blob could not be registered (the kernel would refuse an
    /// ordinary open of it while passthrough opens exist, so the open fails instead).
    /// </summary>
    private int PassthroughFor(InodeRecord record, OpenBlob blob)
    {
        if (_options.BackingFiles is not { } backingFiles)
            return 0;
        // Read first: an atomic write on every open would bounce this line between cores.
        if (Volatile.Read(ref _passthroughReported) == 0 && Interlocked.Exchange(ref _passthroughReported, 1) == 0)
            LogPassthrough(backingFiles.Enabled ? "on (local blobs are read by the kernel)" : "off (the kernel did not offer it)");
        int mode = record.Passthrough;
        if (mode == InodeRecord.PassthroughOff)
            return 0;
        if (mode == InodeRecord.PassthroughUndecided && (_passthroughRefused || !backingFiles.Enabled || blob.LocalFile is null))
            return record.DecidePassthrough(InodeRecord.PassthroughOff) == InodeRecord.PassthroughOff ? 0 : -1;

        int backingId = blob.BackingId(backingFiles);
        if (backingId > 0)
            return record.DecidePassthrough(InodeRecord.PassthroughOn) == InodeRecord.PassthroughOn ? backingId : 0;

        int errno = -backingId;
        // EPERM: no CAP_SYS_ADMIN; ENOTTY, EOPNOTSUPP, EINVAL: a kernel without (usable) passthrough;
        // ELOOP: the store's filesystem is itself stacked too deep (overlayfs, another FUSE mount).
        bool everyFile = errno is Errno.EPERM or Errno.ENOTTY or Errno.EOPNOTSUPP or Errno.EINVAL or Errno.ELOOP;
        if (everyFile)
            _passthroughRefused = true;
        if (mode == InodeRecord.PassthroughUndecided)
            LogPassthroughRefused(record.Digest.ToString(), errno, everyFile ? "passthrough is off for this mount" : "this file is served without it");
        return record.DecidePassthrough(InodeRecord.PassthroughOff) == InodeRecord.PassthroughOff ? 0 : -1;
    }

    public unsafe void Read(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo)
    {
        // Request sizes as the kernel sends them (what readahead and max_pages give), by power of two.
        Interlocked.Increment(ref _readRequestSizes[System.Numerics.BitOperations.Log2((uint)Math.Min(size, 1u << 30) | 1)]);
        if (_inodes.Get(inode) is not { } record)
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        if (record.Kind != InodeKind.File)
        {
            _reply.Err(request, Errno.EISDIR);
            return;
        }
        if (offset < 0)
        {
            _reply.Err(request, Errno.EINVAL);
            return;
        }
        if (offset >= record.Size || size == 0)
        {
            _reply.Buf(request, ReadOnlySpan<byte>.Empty);
            return;
        }
        int length = (int)Math.Min((long)Math.Min(size, int.MaxValue), record.Size - offset);
        if (record.Blob is { } blob)
        {
            LocalReply local = TryReplyFromLocalFile(request, blob, length, offset);
            if (local == LocalReply.Sent)
                return;
            if (local == LocalReply.NotLocal)
            {
                ReplyFromReader(request, record, blob, length, offset);
                return;
            }
        }
        Track(ReadAfterOpenAsync(request, record, length, offset));
    }

    private enum LocalReply
    {
        Sent,
        NotLocal,
        /// <summary>The blob was dropped meanwhile; the request is still unanswered.</summary>
        Dropped,
    }

    /// <summary>Splices straight from the blob's local file: the bytes never enter managed memory.</summary>
    private LocalReply TryReplyFromLocalFile(FuseRequest request, OpenBlob blob, int length, long offset)
    {
        if (blob.LocalFile is not { } file)
            return LocalReply.NotLocal;
        bool referenced = false;
        try
        {
            file.DangerousAddRef(ref referenced);
        }
        catch (ObjectDisposedException)
        {
            return LocalReply.Dropped;
        }
        try
        {
            FuseBufVec buffers = KernelReplySink.FileBuffer((int)file.DangerousGetHandle(), offset, (nuint)length);
            _reply.Data(request, ref buffers, FuseBufCopyFlags.SpliceMove);
        }
        finally
        {
            if (referenced)
                file.DangerousRelease();
        }
        return LocalReply.Sent;
    }

    private async Task ReadAfterOpenAsync(FuseRequest request, InodeRecord record, int length, long offset)
    {
        OpenBlob blob;
        int attempts = 0;
        while (true)
        {
            try
            {
                blob = record.Blob ?? await EnsureBlobAsync(record).ConfigureAwait(false);
            }
            catch (Exception)
            {
                _reply.Err(request, Errno.EIO);
                return;
            }
            LocalReply local = TryReplyFromLocalFile(request, blob, length, offset);
            if (local == LocalReply.Sent)
                return;
            if (local == LocalReply.NotLocal)
                break;
            // Dropped between finding and using it (its last file was released): open it again.
            if (++attempts == 5)
            {
                _reply.Err(request, Errno.EIO);
                return;
            }
            await Task.Yield();
        }

        ReplyFromReader(request, record, blob, length, offset);
    }

    /// <summary>
    /// Other readers: copy through a pooled buffer, inline for as long as the reader answers at
    /// once (memory blobs): no state machine, no task, nothing allocated. A read that has to wait
    /// continues in <see cref="FinishReadAsync"/>, which takes over the buffer.
    /// </summary>
    private void ReplyFromReader(FuseRequest request, InodeRecord record, OpenBlob blob, int length, long offset)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        int filled = 0;
        try
        {
            while (filled < length)
            {
                ValueTask<int> pending = blob.Reader.ReadAtAsync(offset + filled, buffer.AsMemory(filled, length - filled));
                if (!pending.IsCompleted)
                {
                    Track(FinishReadAsync(request, record, blob, buffer, filled, pending, length, offset));
                    return;
                }
                int read = pending.GetAwaiter().GetResult();
                if (read <= 0)
                    break;
                filled += read;
            }
        }
        catch (Exception e)
        {
            LogBlobFailed(record.Digest.ToString(), e.Message);
            ArrayPool<byte>.Shared.Return(buffer);
            _reply.Err(request, Errno.EIO);
            return;
        }
        _reply.Buf(request, buffer.AsSpan(0, filled));
        ArrayPool<byte>.Shared.Return(buffer);
    }

    private async Task FinishReadAsync(FuseRequest request, InodeRecord record, OpenBlob blob, byte[] buffer, int filled, ValueTask<int> pending, int length, long offset)
    {
        try
        {
            while (true)
            {
                // A reader that waits gets the backend deadline.
                int read = await pending.AsTask().WaitAsync(_options.BackendTimeout, _abandoned.Token).ConfigureAwait(false);
                if (read <= 0)
                    break;
                filled += read;
                if (filled >= length)
                    break;
                pending = blob.Reader.ReadAtAsync(offset + filled, buffer.AsMemory(filled, length - filled));
            }
        }
        catch (Exception e)
        {
            LogBlobFailed(record.Digest.ToString(), e.Message);
            // The buffer is not returned to the pool: a read that timed out may still write into it.
            _reply.Err(request, Errno.EIO);
            return;
        }
        _reply.Buf(request, buffer.AsSpan(0, filled));
        ArrayPool<byte>.Shared.Return(buffer);
    }

    public unsafe void Release(FuseRequest request, ulong inode, FuseFileInfo* fileInfo)
    {
        if (_inodes.Get(inode) is { Kind: InodeKind.File } record)
            CloseOpenFile(record);
        _reply.Err(request, 0);
    }

    /// <summary>One open file of <paramref name="record"/> fewer (a release, or an open the kernel never got).</summary>
    private void CloseOpenFile(InodeRecord record)
    {
        bool forgotten = false;
        lock (record)
        {
            if (record.AddOpenFile(-1) <= 0)
            {
                if (record.Lookups == 0)
                {
                    // The kernel's forget overtook this release: the record can go now.
                    DropBlob(record);
                    forgotten = true;
                }
                else if (Volatile.Read(ref _localBlobs) > IdleLocalBlobBudget() && record.Blob is { LocalFile: not null })
                {
                    // Reads hold a reference on the descriptor, and a read after this reopens the blob.
                    DropBlob(record);
                }
            }
        }
        if (forgotten)
            _inodes.QueueForgotten(record);
    }

    /// <summary>
    /// How many idle local blob descriptors may stay open: the configured cap, but never more than a
    /// quarter of the descriptor limit as it is now (an operator may lower it while mounted).
    /// </summary>
    private long IdleLocalBlobBudget() => (long)Math.Min((ulong)_options.MaxIdleLocalBlobs, LibcCalls.OpenFileLimit() / 4);

    /// <summary>The file's open blob; opened once per inode, shared by concurrent misses.</summary>
    private Task<OpenBlob> EnsureBlobAsync(InodeRecord record)
    {
        if (record.Blob is { } blob)
            return Task.FromResult(blob);
        ref Task<OpenBlob>? slot = ref record.BlobOpen;
        if (Volatile.Read(ref slot) is { } inFlight)
        {
            if (!inFlight.IsCompletedSuccessfully || ReferenceEquals(inFlight.Result, record.Blob))
                return inFlight;
            // Completed with a blob that has since been dropped: open afresh.
            Interlocked.CompareExchange(ref slot, null, inFlight);
        }
        // A blob the cache holds (read ahead, or opened before) is a local file: opened on this thread.
        bool held = !_options.AnswerMissesInline && _store.Blobs is IBlobPrefetchTarget cache && cache.IsHeld(record.Digest);
        return SharedFetch.Start(ref slot, completion => OpenBlobAsync(record, completion), _options.AnswerMissesInline || held);
    }

    private async Task OpenBlobAsync(InodeRecord record, TaskCompletionSource<OpenBlob> completion)
    {
        B3Digest digest = record.Digest;
        try
        {
            BlobReader? reader;
            using (CancellationTokenSource deadline = BackendDeadline())
                reader = await _store.Blobs.OpenReadAsync(digest, record.Size, deadline.Token).AsTask().WaitAsync(_options.BackendTimeout, _abandoned.Token).ConfigureAwait(false);
            if (reader is null)
                throw new StoreNotFoundException($"blob {digest} not found");
            if (reader.Length != record.Size)
            {
                reader.Dispose();
                throw new StoreValidationException($"blob {digest} has {reader.Length} bytes, its file node says {record.Size}");
            }
            var blob = new OpenBlob(reader);
            if (blob.LocalFile is not null)
                Interlocked.Increment(ref _localBlobs);
            Volatile.Write(ref record.BlobSlot, blob);
            completion.SetResult(blob);
            if (record.IsRetired)
                DropBlob(record);
        }
        catch (Exception e)
        {
            // Answered before it is logged: the waiters do not depend on the log line.
            Volatile.Write(ref record.BlobOpen, null);
            completion.TrySetException(e);
            LogBlobFailed(digest.ToString(), e.Message);
        }
    }

    /// <summary>Closes a file's blob once the kernel no longer references the inode (or at unmount).</summary>
    private void DropBlob(InodeRecord record)
    {
        if (record.Kind != InodeKind.File)
            return;
        // Only the caller that takes this very blob out of the slot disposes it (a racing open may
        // already have published a newer one, which stays).
        if (Volatile.Read(ref record.BlobSlot) is not { } blob
            || Interlocked.CompareExchange(ref record.BlobSlot, null, blob) != blob)
            return;
        if (blob.LocalFile is not null)
            Interlocked.Decrement(ref _localBlobs);
        if (Volatile.Read(ref record.BlobOpen) is { IsCompletedSuccessfully: true } opened && opened.Result == blob)
            Interlocked.CompareExchange(ref record.BlobOpen, null, opened);
        // SafeHandle reference counting keeps the descriptor alive for a read still splicing from it.
        blob.Dispose();
    }
}
