using Microsoft.Win32.SafeHandles;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Filesystem;

/// <summary>
/// One opening of a file's blob: its reader, its local file when it has one (for splice), and its
/// backing id once registered for passthrough. Counted: the <see cref="BlobSlot"/> that publishes it
/// holds one reference, each read using it one more (<see cref="TryAcquire"/>, <see cref="Release"/>);
/// the reader and its descriptor are disposed when the last reference goes, so a read in flight
/// never has its descriptor closed under it.
/// </summary>
internal sealed class OpenBlob(BlobReader reader)
{
    private readonly Lock _backingLock = new();
    private TvixLowFs.Fuse.IFuseBackingFiles? _backingFiles;
    private int _backingId; // 0: not registered; > 0: the id; < 0: -errno of the refused registration
    private bool _disposed;

    /// <summary>The publishing slot's reference; 0 once disposed (no reference can be taken any more).</summary>
    private int _references = 1;

    public BlobReader Reader { get; } = reader;

    /// <summary>The local file holding the blob, or null.</summary>
    public SafeFileHandle? LocalFile { get; } = reader.LocalFile is { IsInvalid: false } file ? file : null;

    /// <summary>One more reference (for a read); false when the last one has already gone.</summary>
    public bool TryAcquire()
    {
        int current = Volatile.Read(ref _references);
        while (current > 0)
        {
            int seen = Interlocked.CompareExchange(ref _references, current + 1, current);
            if (seen == current)
                return true;
            current = seen;
        }
        return false;
    }

    /// <summary>Gives one reference back; the last one disposes the blob.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
            Dispose();
    }

    /// <summary>
    /// The blob file's backing id, registered on first use (once per blob, shared by every open
    /// of the inode); -errno when the kernel refused it or the blob has been disposed.
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

    private void Dispose()
    {
        lock (_backingLock)
        {
            _disposed = true;
            // Open files keep their backing file in the kernel; the id is only needed for new opens.
            if (_backingId > 0)
                _backingFiles!.Close(_backingId);
            _backingId = -Errno.EBADF;
        }
        Reader.Dispose();
    }
}
