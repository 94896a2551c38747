using System.Buffers;
using System.Runtime.InteropServices;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Filesystem;

// opendir, readdir, readdirplus, releasedir. Offsets: entry i ('.' = 0, '..' = 1, children from 2)
// carries i + 1, the offset the kernel sends back to continue after it.
public sealed partial class StoreFilesystem
{
    /// <summary>Pages up to this size are built on the stack; larger ones in a pooled array.</summary>
    private const int StackPageLimit = 16 * 1024;

    private static ReadOnlySpan<byte> DotWithNul => ".\0"u8;
    private static ReadOnlySpan<byte> DotDotWithNul => "..\0"u8;

    public unsafe void OpenDir(FuseRequest request, ulong inode, FuseFileInfo* fileInfo)
    {
        if (_inodes.Get(inode) is not { } record)
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        if (record.Kind != InodeKind.Directory)
        {
            _reply.Err(request, Errno.ENOTDIR);
            return;
        }

        FuseFileInfo opened = *fileInfo;
        opened.Fh = 0;
        if (record.IsRoot)
        {
            // Opening the root is allowed (cd, openat); listing it is EPERM without --list-root.
            // The root's listing changes as paths are imported, so the kernel must not cache it.
            if (_options.ListRoot)
                opened.Fh = (ulong)GCHandle.ToIntPtr(GCHandle.Alloc(new RootListing(_store.PathInfos)));
            // Not delivered: no releasedir will come for this handle.
            if (_reply.Open(request, in opened) != 0 && opened.Fh != 0)
                ReleaseListing(opened.Fh);
            return;
        }

        opened.KeepCache = true;    // keep what was cached from an earlier open
        opened.CacheReaddir = true; // and cache the listing: a digest's entries never change
        if (record.Contents is not null)
        {
            _reply.Open(request, in opened);
            return;
        }
        Track(OpenDirAfterFetchAsync(request, record, opened));
    }

    private async Task OpenDirAfterFetchAsync(FuseRequest request, InodeRecord directory, FuseFileInfo opened)
    {
        try
        {
            await ContentsAsync(directory).ConfigureAwait(false);
        }
        catch (Exception)
        {
            _reply.Err(request, Errno.EIO);
            return;
        }
        _reply.Open(request, in opened);
    }

    public unsafe void ReleaseDir(FuseRequest request, ulong inode, FuseFileInfo* fileInfo)
    {
        if (inode == RootInode && fileInfo->Fh != 0)
            ReleaseListing(fileInfo->Fh);
        _reply.Err(request, 0);
    }

    private void ReleaseListing(ulong fh)
    {
        var handle = GCHandle.FromIntPtr((nint)fh);
        var listing = (RootListing)handle.Target!;
        handle.Free();
        _ = DisposeListingAsync(listing);
    }

    private async Task DisposeListingAsync(RootListing listing)
    {
        try
        {
            await listing.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogListingFailed(e.Message);
        }
    }

    public unsafe void ReadDir(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo) =>
        ReadDirectory(request, inode, size, offset, fileInfo->Fh, plus: false);

    public unsafe void ReadDirPlus(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo) =>
        ReadDirectory(request, inode, size, offset, fileInfo->Fh, plus: true);

    // The page is not zeroed first: fuse_add_direntry writes every byte of what is sent.
    [System.Runtime.CompilerServices.SkipLocalsInit]
    private unsafe void ReadDirectory(FuseRequest request, ulong inode, nuint size, long offset, ulong handle, bool plus)
    {
        if (_inodes.Get(inode) is not { } record)
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        if (record.Kind != InodeKind.Directory)
        {
            _reply.Err(request, Errno.ENOTDIR);
            return;
        }
        int pageSize = (int)Math.Min(size, 1u << 20);
        if (record.IsRoot)
        {
            if (!_options.ListRoot)
            {
                _reply.Err(request, Errno.EPERM);
                return;
            }
            if (handle == 0)
            {
                _reply.Err(request, Errno.EIO);
                return;
            }
            Track(ReadRootListingAsync(request, (RootListing)GCHandle.FromIntPtr((nint)handle).Target!, pageSize, offset, plus));
            return;
        }
        if (record.Contents is not { } contents)
        {
            Track(ReadDirectoryAfterFetchAsync(request, record, pageSize, offset, plus));
            return;
        }
        if (offset == 0)
            _treeReadahead.OnListing(record, contents);

        if (pageSize <= StackPageLimit)
        {
            Span<byte> page = stackalloc byte[pageSize];
            ReplyDirectoryPage(request, record, contents, page, offset, plus);
        }
        else
        {
            byte[] page = ArrayPool<byte>.Shared.Rent(pageSize);
            ReplyDirectoryPage(request, record, contents, page.AsSpan(0, pageSize), offset, plus);
            ArrayPool<byte>.Shared.Return(page);
        }
    }

    private async Task ReadDirectoryAfterFetchAsync(FuseRequest request, InodeRecord directory, int pageSize, long offset, bool plus)
    {
        DirectoryContents contents;
        try
        {
            contents = await ContentsAsync(directory).ConfigureAwait(false);
        }
        catch (Exception)
        {
            _reply.Err(request, Errno.EIO);
            return;
        }
        byte[] page = ArrayPool<byte>.Shared.Rent(pageSize);
        ReplyDirectoryPage(request, directory, contents, page.AsSpan(0, pageSize), offset, plus);
        ArrayPool<byte>.Shared.Return(page);
    }

    /// <summary>Fills one page from <paramref name="offset"/> on, as many entries as fit, and replies with it.</summary>
    private void ReplyDirectoryPage(FuseRequest request, InodeRecord directory, DirectoryContents contents, Span<byte> page, long offset, bool plus)
    {
        int used = 0;
        long total = contents.Count + 2L;
        for (long index = Math.Max(offset, 0); index < total; index++)
        {
            int written = index switch
            {
                0 => AddDotEntry(page[used..], DotWithNul, directory.Inode, index + 1, plus),
                // Content-addressed directories have no single parent; '..' names the root.
                1 => AddDotEntry(page[used..], DotDotWithNul, RootInode, index + 1, plus),
                _ => AddEntry(page[used..], contents.NameWithNul((int)(index - 2)), contents.Record((int)(index - 2)), index + 1, plus),
            };
            if (written < 0)
                break;
            used += written;
        }
        ReplyPage(request, page[..used], plus);
    }

    /// <summary>Replies with a listing page; a readdirplus page the kernel refused counts none of its entries.</summary>
    private void ReplyPage(FuseRequest request, ReadOnlySpan<byte> page, bool plus)
    {
        if (_reply.Buf(request, page) != 0 && plus)
            ForgetPlusPage(page);
    }

    /// <summary>
    /// Appends '.' or '..'. In readdirplus they carry no entry (inode 0 in the entry, the number only
    /// in the attributes), as the kernel neither links nor counts them.
    /// </summary>
    private static int AddDotEntry(Span<byte> remaining, ReadOnlySpan<byte> nameWithNul, ulong inode, long nextOffset, bool plus)
    {
        int size;
        if (plus)
        {
            FuseEntryParam entry = default;
            entry.Attr.Ino = inode;
            entry.Attr.Mode = FileType.Directory | ReadOnlyDirectoryMode;
            SetStoreTimes(ref entry.Attr);
            size = FuseDirectoryBuffer.AddPlus(remaining, nameWithNul, in entry, nextOffset);
        }
        else
        {
            Stat attributes = default;
            attributes.Ino = inode;
            attributes.Mode = FileType.Directory | ReadOnlyDirectoryMode;
            SetStoreTimes(ref attributes);
            size = FuseDirectoryBuffer.Add(remaining, nameWithNul, in attributes, nextOffset);
        }
        return size <= remaining.Length ? size : -1;
    }

    /// <summary>Appends one child; -1 when it does not fit. A readdirplus entry counts as a lookup.</summary>
    private int AddEntry(Span<byte> remaining, ReadOnlySpan<byte> nameWithNul, InodeRecord record, long nextOffset, bool plus)
    {
        int size;
        if (plus)
        {
            // Counted before the entry can reach the kernel; taken back if it does not fit.
            record = Reference(record);
            FuseEntryParam entry = default;
            entry.Ino = record.Inode;
            entry.AttrTimeout = _timeout;
            entry.EntryTimeout = _timeout;
            FillAttributes(record, ref entry.Attr);
            size = FuseDirectoryBuffer.AddPlus(remaining, nameWithNul, in entry, nextOffset);
            // Not sent: give the count back (only queued when that leaves it unreferenced; a blob
            // read ahead for it stays open).
            if (size > remaining.Length && record.Forget(1) == 0)
                _inodes.QueueForgotten(record);
        }
        else
        {
            Stat attributes = default;
            FillAttributes(record, ref attributes);
            size = FuseDirectoryBuffer.Add(remaining, nameWithNul, in attributes, nextOffset);
        }
        return size <= remaining.Length ? size : -1;
    }

    /// <summary>
    /// Invalid PathInfos one root-listing readdir skips at most before it answers: with its
    /// entries so far, or EIO when it has none (a listing of nothing but invalid PathInfos
    /// cannot hold a request).
    /// </summary>
    internal const int MaxSkippedPerListingPage = 4096;

    /// <summary>
    /// A page of the root listing, pulling more PathInfos from the service only as far as needed.
    /// One readdir waits for the listing at most <see cref="StoreFilesystemOptions.BackendTimeout"/>
    /// in all (however slowly the PathInfos drip in) and skips at most
    /// <see cref="MaxSkippedPerListingPage"/> invalid ones; then it answers what it has, or EIO
    /// when that is nothing. After a failure the entries already in the page are answered (and
    /// counted); the next readdir reports the failure.
    /// </summary>
    private async Task ReadRootListingAsync(FuseRequest request, RootListing listing, int pageSize, long offset, bool plus)
    {
        byte[] page = ArrayPool<byte>.Shared.Rent(pageSize);
        int used = 0;
        string? failure = null;
        bool entered = false;
        try
        {
            // Inside the try: a releasedir racing this readdir must not leave it unanswered.
            await listing.Gate.WaitAsync(_abandoned.Token).ConfigureAwait(false);
            entered = true;
            if (listing.IsReleased)
                throw new IOException("the listing was released");
            long giveUp = Environment.TickCount64 + (long)_options.BackendTimeout.TotalMilliseconds;
            int skipped = 0;
            for (long index = Math.Max(offset, 0); failure is null; index++)
            {
                int written;
                if (index < 2)
                {
                    written = AddDotEntry(page.AsSpan(used, pageSize - used), index == 0 ? DotWithNul : DotDotWithNul, RootInode, index + 1, plus);
                }
                else
                {
                    int position = checked((int)(index - 2));
                    while (position >= listing.Entries.Count)
                    {
                        long left = giveUp - Environment.TickCount64;
                        if (left <= 0 || skipped >= MaxSkippedPerListingPage)
                        {
                            failure = $"no valid PathInfo within {(left <= 0 ? $"{_options.BackendTimeout.TotalSeconds:0.#} s" : $"{skipped} listed")}";
                            break;
                        }
                        if (await listing.NextAsync(TimeSpan.FromMilliseconds(left), _abandoned.Token).ConfigureAwait(false) is not { } pathInfo)
                            break;
                        if (TryRegisterListed(pathInfo) is { } listed)
                            listing.Entries.Add(listed);
                        else
                            skipped++;
                    }
                    if (failure is not null || position >= listing.Entries.Count)
                        break;
                    RootEntry entry = listing.Entries[position];
                    written = AddEntry(page.AsSpan(used, pageSize - used), entry.NameWithNul, entry.Record, index + 1, plus);
                }
                if (written < 0)
                    break;
                used += written;
            }
        }
        catch (Exception e)
        {
            failure = e.Message;
        }
        finally
        {
            if (entered)
                listing.Gate.Release();
        }
        if (failure is not null && used == 0)
            _reply.Err(request, Errno.EIO);
        else
            ReplyPage(request, page.AsSpan(0, used), plus);
        ArrayPool<byte>.Shared.Return(page);
        if (failure is not null)
            LogListingFailed(failure);
    }

    /// <summary>A listed PathInfo as a root entry (and remembered for lookups), or null when it is not valid.</summary>
    private RootEntry? TryRegisterListed(PathInfo pathInfo)
    {
        try
        {
            VerifiedPathInfo verified = VerifiedPathInfo.Create(pathInfo);
            return RegisterStorePath(verified, verified.StorePath.Hash);
        }
        catch (Exception e)
        {
            LogListedPathInfoSkipped("?", e.Message);
            return null;
        }
    }
}
