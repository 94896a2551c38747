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

    // Made once: the slot calls them under its lock, on every open and last release.
    private readonly Func<InodeRecord, OpenBlob, int> _passthroughFor;
    private readonly Func<bool> _overIdleBudget;

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
        _treeReadahead.OnOpen(record);
        if (record.Blobs.TryOpenFile(_passthroughFor, out int backingId))
        {
            ReplyOpen(request, record, backingId, in opened);
            return;
        }
        Track(OpenAfterFetchAsync(request, record, opened));
    }

    private async Task OpenAfterFetchAsync(FuseRequest request, InodeRecord record, FuseFileInfo opened)
    {
        // Counted from now on, so the blob cannot be dropped as idle before this open uses it.
        BlobSlot slot = record.Blobs;
        slot.AddWaitingOpen();
        try
        {
            await EnsureBlobAsync(record).ConfigureAwait(false);
        }
        catch (Exception)
        {
            CloseOpenFile(record);
            _reply.Err(request, Errno.EIO);
            return;
        }
        int backingId = slot.DecideWaitingOpen(_passthroughFor);
        if (backingId < 0)
            CloseOpenFile(record); // refused: it was counted while it waited
        ReplyOpen(request, record, backingId, in opened);
    }

    /// <summary>
    /// Answers an open counted by the slot (backing id &gt;= 0: passthrough with that id, or 0 an
    /// ordinary open); a negative id answers EIO and closes what was counted.
    /// </summary>
    private void ReplyOpen(FuseRequest request, InodeRecord record, int backingId, in FuseFileInfo opened)
    {
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
        int mode = record.Blobs.Passthrough;
        if (mode == BlobSlot.PassthroughOff)
            return 0;
        if (mode == BlobSlot.PassthroughUndecided && (_passthroughRefused || !backingFiles.Enabled || blob.LocalFile is null))
            return record.Blobs.DecidePassthrough(BlobSlot.PassthroughOff) == BlobSlot.PassthroughOff ? 0 : -1;

        int backingId = blob.BackingId(backingFiles);
        if (backingId > 0)
            return record.Blobs.DecidePassthrough(BlobSlot.PassthroughOn) == BlobSlot.PassthroughOn ? backingId : 0;

        int errno = -backingId;
        // EPERM: no CAP_SYS_ADMIN; ENOTTY, EOPNOTSUPP, EINVAL: a kernel without (usable) passthrough;
        // ELOOP: the store's filesystem is itself stacked too deep (overlayfs, another FUSE mount).
        bool everyFile = errno is Errno.EPERM or Errno.ENOTTY or Errno.EOPNOTSUPP or Errno.EINVAL or Errno.ELOOP;
        if (everyFile)
            _passthroughRefused = true;
        if (mode == BlobSlot.PassthroughUndecided)
            LogPassthroughRefused(record.Digest.ToString(), errno, everyFile ? "passthrough is off for this mount" : "this file is served without it");
        return record.Blobs.DecidePassthrough(BlobSlot.PassthroughOff) == BlobSlot.PassthroughOff ? 0 : -1;
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
        if (record.Blobs.TryAcquire() is { } blob)
        {
            ReplyRead(request, record, blob, length, offset);
            return;
        }
        Track(ReadAfterOpenAsync(request, record, length, offset));
    }

    /// <summary>A read whose blob is not open (it cannot be dropped while an open file holds the inode, so rarely): opens it first.</summary>
    private async Task ReadAfterOpenAsync(FuseRequest request, InodeRecord record, int length, long offset)
    {
        try
        {
            await EnsureBlobAsync(record).ConfigureAwait(false);
        }
        catch (Exception)
        {
            _reply.Err(request, Errno.EIO);
            return;
        }
        // Taken out again at once: the kernel forgot the inode, or unmounting.
        if (record.Blobs.TryAcquire() is not { } blob)
        {
            _reply.Err(request, Errno.EIO);
            return;
        }
        ReplyRead(request, record, blob, length, offset);
    }

    /// <summary>Answers a read from <paramref name="blob"/>, whose reference it takes over (given back once answered).</summary>
    private void ReplyRead(FuseRequest request, InodeRecord record, OpenBlob blob, int length, long offset)
    {
        if (blob.LocalFile is { } file)
        {
            // Spliced straight from the blob's local file: the bytes never enter managed memory.
            // The reference keeps the descriptor open until the reply is written.
            FuseBufVec buffers = KernelReplySink.FileBuffer((int)file.DangerousGetHandle(), offset, (nuint)length);
            _reply.Data(request, ref buffers, FuseBufCopyFlags.SpliceMove);
            blob.Release();
            return;
        }
        ReplyFromReader(request, record, blob, length, offset);
    }

    /// <summary>
    /// Other readers: copy through a pooled buffer, inline for as long as the reader answers at
    /// once (memory blobs): no state machine, no task, nothing allocated. A read that has to wait
    /// continues in <see cref="FinishReadAsync"/>, which takes over the buffer and the blob's reference.
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
            blob.Release();
            LogBlobFailed(record.Digest.ToString(), e.Message);
            ArrayPool<byte>.Shared.Return(buffer);
            _reply.Err(request, Errno.EIO);
            return;
        }
        blob.Release();
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
            // Neither the buffer nor the blob's reference is given back: a read that timed out
            // may still write into the one and use the other.
            LogBlobFailed(record.Digest.ToString(), e.Message);
            _reply.Err(request, Errno.EIO);
            return;
        }
        blob.Release();
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
        // The last one: its blob goes if the kernel's forget overtook this release (the record can
        // go now too), or, over the idle budget, its descriptor (a later open opens it again).
        DropBlob(record.Blobs.CloseFile(_overIdleBudget, out bool forgotten));
        if (forgotten)
            _inodes.QueueForgotten(record);
    }

    /// <summary>True when idle local blobs should give their descriptors back (<see cref="IdleLocalBlobBudget"/>).</summary>
    private bool OverIdleBudget() => Volatile.Read(ref _localBlobs) > IdleLocalBlobBudget();

    /// <summary>
    /// How many idle local blob descriptors may stay open: the configured cap, but never more than a
    /// quarter of the descriptor limit as it is now (an operator may lower it while mounted).
    /// </summary>
    private long IdleLocalBlobBudget() => (long)Math.Min((ulong)_options.MaxIdleLocalBlobs, LibcCalls.OpenFileLimit() / 4);

    /// <summary>
    /// Tree readahead of one file: its blob opened through the slot (an open arriving meanwhile
    /// waits for this same open), a local one started into the page cache.
    /// </summary>
    private async Task ReadAheadFileAsync(InodeRecord file)
    {
        await EnsureBlobAsync(file).ConfigureAwait(false);
        if (file.Blobs.TryAcquire() is { } blob)
        {
            if (blob.LocalFile is { } local)
                LibcCalls.StartReadingIntoPageCache(local);
            blob.Release();
        }
        // Not opened by now and over the idle budget: like a released file, it keeps no descriptor.
        DropBlob(file.Blobs.TakeIfIdle(_overIdleBudget));
    }

    /// <summary>The open of the file's blob: once per inode, shared by concurrent misses (it completes when the blob is published).</summary>
    private Task<OpenBlob> EnsureBlobAsync(InodeRecord record)
    {
        // A blob the cache holds (read ahead, or opened before) is a local file: opened on this thread.
        bool held = !_options.AnswerMissesInline && _store.Blobs is IBlobPrefetchTarget cache && cache.IsHeld(record.Digest);
        return record.Blobs.OpenAsync(completion => OpenBlobAsync(record, completion), _options.AnswerMissesInline || held);
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
            record.Blobs.Publish(blob);
            completion.SetResult(blob);
            if (record.IsRetired)
                DropBlob(record);
        }
        catch (Exception e)
        {
            // Answered before it is logged: the waiters do not depend on the log line.
            record.Blobs.OpenFailed(completion.Task);
            completion.TrySetException(e);
            LogBlobFailed(digest.ToString(), e.Message);
        }
    }

    /// <summary>Closes a file's blob once the kernel no longer references the inode (or at unmount, or on retirement).</summary>
    private void DropBlob(InodeRecord record)
    {
        if (record.Kind == InodeKind.File && record.BlobsIfUsed is { } slot)
            DropBlob(slot.Take());
    }

    /// <summary>Gives back the slot's reference on a blob taken out of it; reads still using it keep it open until they finish.</summary>
    private void DropBlob(OpenBlob? taken)
    {
        if (taken is null)
            return;
        if (taken.LocalFile is not null)
            Interlocked.Decrement(ref _localBlobs);
        taken.Release();
    }
}
