using TvixLowFs.Store.Model;

namespace TvixLowFs.Filesystem;

internal enum InodeKind : byte
{
    Directory,
    File,
    Symlink,
}

/// <summary>
/// What one inode number stands for. Immutable except for the state that is filled in lazily
/// (a directory's entries, a file's blob slot, the store paths naming it) and the kernel's lookup
/// count, all private and changed through the methods below with single reference writes or
/// compare-exchanges, so readers never lock (a file's opens take its <see cref="BlobSlot"/>'s own lock).
/// </summary>
internal sealed class InodeRecord
{
    private InodeRecord(ulong inode, InodeKind kind, B3Digest digest, long size, bool executable, byte[]? symlinkTarget)
    {
        Inode = inode;
        Kind = kind;
        Digest = digest;
        Size = size;
        Executable = executable;
        SymlinkTargetWithNul = symlinkTarget;
    }

    public static InodeRecord Root(ulong inode) => new(inode, InodeKind.Directory, default, 0, false, null);

    public static InodeRecord Directory(ulong inode, B3Digest digest, long size) =>
        new(inode, InodeKind.Directory, digest, size, false, null);

    public static InodeRecord File(ulong inode, B3Digest digest, long size, bool executable) =>
        new(inode, InodeKind.File, digest, size, executable, null);

    /// <summary><paramref name="targetWithNul"/> ends in the NUL readlink replies need.</summary>
    public static InodeRecord Symlink(ulong inode, byte[] targetWithNul) =>
        new(inode, InodeKind.Symlink, default, targetWithNul.Length - 1, false, targetWithNul);

    public ulong Inode { get; }
    public InodeKind Kind { get; }

    /// <summary>The Directory digest (directories) or blob digest (files); default for the root and symlinks.</summary>
    public B3Digest Digest { get; }

    /// <summary>File size, the DirectoryNode size of a directory, or the target length of a symlink.</summary>
    public long Size { get; }

    public bool Executable { get; }

    /// <summary>The symlink target followed by a NUL, kept so readlink replies without copying.</summary>
    public byte[]? SymlinkTargetWithNul { get; }

    public bool IsRoot => Inode == StoreFilesystem.RootInode;

    // --- the kernel's lookup count: lookup and readdirplus entries add, forget subtracts ---
    // A retired record (dropped from the table) holds Retired: no lookup can be added to it any
    // more, so a number is only ever handed to the kernel while its record is in the table.
    private const long Retired = long.MinValue / 2;
    private long _lookups;

    public long Lookups => Volatile.Read(ref _lookups);

    public bool IsRetired => Volatile.Read(ref _lookups) < 0;

    /// <summary>
    /// Counts one more reference given to the kernel; false when the record has been retired (the
    /// caller then uses the table's current record for the same content).
    /// </summary>
    public bool TryAddLookup()
    {
        long current = Volatile.Read(ref _lookups);
        while (current >= 0)
        {
            long seen = Interlocked.CompareExchange(ref _lookups, current + 1, current);
            if (seen == current)
                return true;
            current = seen;
        }
        return false;
    }

    /// <summary>Returns the count left.</summary>
    public long Forget(ulong count) => Interlocked.Add(ref _lookups, -(long)count);

    /// <summary>Marks the record retired if the kernel holds no reference and no file is open on it.</summary>
    public bool TryRetire() =>
        (Volatile.Read(ref _blobs)?.OpenFiles ?? 0) == 0 && Interlocked.CompareExchange(ref _lookups, Retired, 0) == 0;

    // --- the table's queue of forgotten inodes ---
    private int _forgottenQueued;

    /// <summary>True while the record waits in the table's queue of forgotten inodes.</summary>
    public bool IsQueuedForgotten => Volatile.Read(ref _forgottenQueued) != 0;

    /// <summary>Marks the record queued; false when it already was.</summary>
    public bool TryMarkQueuedForgotten() => Interlocked.CompareExchange(ref _forgottenQueued, 1, 0) == 0;

    public void ClearQueuedForgotten() => Volatile.Write(ref _forgottenQueued, 0);

    // --- the store paths whose root this is (so retiring it drops their cached PathInfo root
    // entries): an immutable array swapped whole; RetiredStorePaths once retirement took them ---
    private static readonly KeyValuePair<StorePathHash, RootEntry>[] RetiredStorePaths = [];
    private KeyValuePair<StorePathHash, RootEntry>[]? _storePaths;

    /// <summary>Registers a store path naming this record as its root; false once the record has been retired.</summary>
    public bool TryAddStorePath(KeyValuePair<StorePathHash, RootEntry> entry)
    {
        KeyValuePair<StorePathHash, RootEntry>[]? current = Volatile.Read(ref _storePaths);
        while (current != RetiredStorePaths && !IsRetired)
        {
            KeyValuePair<StorePathHash, RootEntry>[] grown = [.. current ?? [], entry];
            KeyValuePair<StorePathHash, RootEntry>[]? seen = Interlocked.CompareExchange(ref _storePaths, grown, current);
            if (seen == current)
                return true;
            current = seen;
        }
        return false;
    }

    /// <summary>Takes the store paths away on retirement (after which none can be added); empty when there were none.</summary>
    public ReadOnlySpan<KeyValuePair<StorePathHash, RootEntry>> TakeStorePaths() =>
        Interlocked.Exchange(ref _storePaths, RetiredStorePaths);

    // --- files and directories: the place in tree readahead, the readahead's own state ---
    private TreeReadahead.Place _readahead;

    public ref TreeReadahead.Place Readahead => ref _readahead;

    // --- directories: entries, fetched once on first use ---
    private DirectoryContents? _contents;
    private Task<DirectoryContents>? _contentsFetch;

    public DirectoryContents? Contents => Volatile.Read(ref _contents);

    public void PublishContents(DirectoryContents contents) => Volatile.Write(ref _contents, contents);

    /// <summary>Takes the entries away (on retirement); null when there were none.</summary>
    public DirectoryContents? TakeContents() => Interlocked.Exchange(ref _contents, null);

    /// <summary>The fetch of the entries: the one in flight (shared by every request that misses meanwhile), or <paramref name="fetch"/> started now.</summary>
    public Task<DirectoryContents> FetchContents(Func<TaskCompletionSource<DirectoryContents>, Task> fetch, bool runHere) =>
        SharedFetch.Start(ref _contentsFetch, fetch, runHere);

    /// <summary>Takes the empty fetch slot for a fetch run elsewhere (the closure prefetch); false when one is in flight or done.</summary>
    public bool TryReserveContentsFetch(out TaskCompletionSource<DirectoryContents> completion) =>
        SharedFetch.TryTake(ref _contentsFetch, out completion, out _);

    /// <summary>Frees the fetch slot held by <paramref name="fetch"/> (failed, or handed back), so the next request fetches again.</summary>
    public void EndContentsFetch(Task<DirectoryContents> fetch) => Interlocked.CompareExchange(ref _contentsFetch, null, fetch);

    /// <summary>True while a fetch of the entries is in flight (or has published them).</summary>
    public bool HasContentsFetch => Volatile.Read(ref _contentsFetch) is not null;

    // --- files: the open blob and open files (created at the first open or readahead) ---
    private BlobSlot? _blobs;

    /// <summary>Files: the blob slot, created on first use.</summary>
    public BlobSlot Blobs => Volatile.Read(ref _blobs) ?? CreateBlobs();

    /// <summary>Files: open file handles on this inode.</summary>
    public int OpenFiles => Volatile.Read(ref _blobs)?.OpenFiles ?? 0;

    /// <summary>Files: the blob slot if one was ever needed, else null.</summary>
    public BlobSlot? BlobsIfUsed => Volatile.Read(ref _blobs);

    private BlobSlot CreateBlobs()
    {
        Interlocked.CompareExchange(ref _blobs, new BlobSlot(this), null);
        return Volatile.Read(ref _blobs)!;
    }
}
