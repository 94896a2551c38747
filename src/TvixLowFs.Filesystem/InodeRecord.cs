using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Filesystem;

internal enum InodeKind : byte
{
    Directory,
    File,
    Symlink,
}

/// <summary>
/// What one inode number stands for. Immutable except for the state that is filled in lazily
/// (a directory's entries, a file's open blob) and the kernel's lookup count; all of those are
/// published with single reference writes so readers never lock.
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
        Volatile.Read(ref _openFiles) == 0 && Interlocked.CompareExchange(ref _lookups, Retired, 0) == 0;

    /// <summary>1 while the record waits in the table's queue of forgotten inodes.</summary>
    public int ForgottenQueued;

    /// <summary>The store paths whose root this is (so retiring it drops their cached PathInfo root entries).</summary>
    public List<KeyValuePair<StorePathHash, RootEntry>>? StorePaths;

    /// <summary>
    /// Files and directories: the inode number of a directory listing this entry (the first one
    /// whose entries were built; content-addressed entries may sit in several), for tree
    /// readahead; 0 when unknown (a store path's root).
    /// </summary>
    public ulong ParentInode;

    /// <summary>Files and directories: the entry's index in <see cref="ParentInode"/>'s listing.</summary>
    public int ParentIndex;

    /// <summary>
    /// Directories: 1 while a tree readahead walk holds this directory (and for good once one has
    /// walked all of it). Files: 1 from when a walk read the file ahead until its first open.
    /// </summary>
    public int ReadaheadTaken;

    /// <summary>Directories: where a walk that ran out of its window stopped; the next walk resumes there.</summary>
    public int ReadaheadResume;

    /// <summary>Directories: 1 once a listing of it has started fetching its subdirectories' entries.</summary>
    public int SubdirectoriesRequested;

    // --- directories: entries, fetched once on first use ---
    private DirectoryContents? _contents;
    private Task<DirectoryContents>? _contentsFetch;

    public DirectoryContents? Contents => Volatile.Read(ref _contents);

    public void PublishContents(DirectoryContents contents) => Volatile.Write(ref _contents, contents);

    /// <summary>Takes the entries away (on retirement); null when there were none.</summary>
    public DirectoryContents? TakeContents() => Interlocked.Exchange(ref _contents, null);

    /// <summary>The fetch in flight (shared by every request that misses meanwhile), or null.</summary>
    public ref Task<DirectoryContents>? ContentsFetch => ref _contentsFetch;

    // --- files: the open blob, opened once and kept while the kernel knows the inode ---
    private OpenBlob? _blob;
    private Task<OpenBlob>? _blobOpen;

    public OpenBlob? Blob => Volatile.Read(ref _blob);

    public ref OpenBlob? BlobSlot => ref _blob;

    public ref Task<OpenBlob>? BlobOpen => ref _blobOpen;

    private int _openFiles;

    // --- passthrough: decided at the first open and kept for the record's life, because the
    // kernel refuses to mix passthrough and cached opens of one inode ---
    public const int PassthroughUndecided = 0, PassthroughOn = 1, PassthroughOff = 2;
    private int _passthrough;

    public int Passthrough => Volatile.Read(ref _passthrough);

    /// <summary>Settles the mode if still undecided; returns the mode in force.</summary>
    public int DecidePassthrough(int mode)
    {
        int seen = Interlocked.CompareExchange(ref _passthrough, mode, PassthroughUndecided);
        return seen == PassthroughUndecided ? mode : seen;
    }

    /// <summary>Open file handles on this inode (open adds, release subtracts); returns the new count.</summary>
    public int AddOpenFile(int delta) => Interlocked.Add(ref _openFiles, delta);

    public int OpenFiles => Volatile.Read(ref _openFiles);
}

/// <summary>A file's blob reader plus its local file when it has one (for splice), and its backing id once registered for passthrough.</summary>
internal sealed class OpenBlob(BlobReader reader) : IDisposable
{
    private readonly Lock _backingLock = new();
    private TvixLowFs.Fuse.IFuseBackingFiles? _backingFiles;
    private int _backingId; // 0: not registered; > 0: the id; < 0: -errno of the refused registration
    private bool _disposed;
    public BlobReader Reader { get; } = reader;

    /// <summary>
    /// The local file holding the blob, or null. Reads take a reference on it (DangerousAddRef)
    /// for the duration of the reply, so dropping the blob while a read is in flight is safe.
    /// </summary>
    public Microsoft.Win32.SafeHandles.SafeFileHandle? LocalFile { get; } =
        reader.LocalFile is { IsInvalid: false } file ? file : null;

    /// <summary>
    /// The blob file's backing id, registered on first use (once per blob, shared by every open
    /// of the inode); -errno when the kernel refused it or the blob has been dropped.
    /// </summary>
    public int BackingId(TvixLowFs.Fuse.IFuseBackingFiles backingFiles)
    {
        int id = Volatile.Read(ref _backingId);
        if (id != 0)
            return id;
        lock (_backingLock)
        {
            if (_backingId == 0)
            {
                _backingId = _disposed || LocalFile is null ? -Errno.EBADF : backingFiles.Open(LocalFile);
                _backingFiles = backingFiles;
            }
            return _backingId;
        }
    }

    public void Dispose()
    {
        lock (_backingLock)
        {
            _disposed = true;
            // Open files keep their backing file in the kernel; the id is only needed for new opens.
            if (_backingId > 0)
                _backingFiles!.Close(_backingId);
            _backingId = -9;
        }
        Reader.Dispose();
    }
}
