namespace TvixLowFs.Filesystem;

/// <summary>
/// A file inode's open blob and its open files. The blob is opened once (concurrent misses share
/// the open, <see cref="SharedFetch"/>), published here with the slot's reference on it, and kept
/// while the kernel references the inode; reads take a reference of their own
/// (<see cref="TryAcquire"/>), so taking the blob out (<see cref="Take"/>) never closes a
/// descriptor under a read. Opens (counted from when they start waiting for the blob, so an idle
/// drop never takes a blob an open is about to use) and last releases take the slot's lock: a blob
/// and its backing id are only dropped when no open file of the inode is left in the kernel
/// (every passthrough open of an inode must name the backing file its other open files use).
/// </summary>
internal sealed class BlobSlot(InodeRecord owner)
{
    private readonly Lock _lock = new();
    private OpenBlob? _blob;

    /// <summary>The open in flight, or the completed open of the published blob; null when neither.</summary>
    private Task<OpenBlob>? _opening;

    private int _openFiles;

    // Passthrough: decided at the first open and kept for the record's life, because the kernel
    // refuses to mix passthrough and cached opens of one inode.
    public const int PassthroughUndecided = 0, PassthroughOn = 1, PassthroughOff = 2;
    private int _passthrough;

    /// <summary>Open file handles on this inode, opens still waiting for the blob included.</summary>
    public int OpenFiles => Volatile.Read(ref _openFiles);

    public bool HasBlob => Volatile.Read(ref _blob) is not null;

    public int Passthrough => Volatile.Read(ref _passthrough);

    /// <summary>Settles the mode if still undecided; returns the mode in force.</summary>
    public int DecidePassthrough(int mode)
    {
        int seen = Interlocked.CompareExchange(ref _passthrough, mode, PassthroughUndecided);
        return seen == PassthroughUndecided ? mode : seen;
    }

    /// <summary>A reference on the published blob (give it back with <see cref="OpenBlob.Release"/>), or null when none is.</summary>
    public OpenBlob? TryAcquire()
    {
        OpenBlob? blob = Volatile.Read(ref _blob);
        return blob is not null && blob.TryAcquire() ? blob : null;
    }

    /// <summary>The open of the blob: the published one's, the one in flight, or <paramref name="open"/> started now.</summary>
    public Task<OpenBlob> OpenAsync(Func<TaskCompletionSource<OpenBlob>, Task> open, bool runHere) =>
        SharedFetch.Start(ref _opening, open, runHere);

    /// <summary>Publishes what the open in flight opened (its completed task stays in the slot until the blob is taken).</summary>
    public void Publish(OpenBlob blob)
    {
        lock (_lock)
            Volatile.Write(ref _blob, blob);
    }

    /// <summary>Frees the slot of an open that failed, so the next miss tries again.</summary>
    public void OpenFailed(Task<OpenBlob> opening) => Interlocked.CompareExchange(ref _opening, null, opening);

    /// <summary>
    /// Counts an open whose blob is here and returns the <paramref name="decide"/>d backing id
    /// (counted when &gt;= 0); false (nothing counted) when no blob is published.
    /// </summary>
    public bool TryOpenFile(Func<InodeRecord, OpenBlob, int> decide, out int backingId)
    {
        lock (_lock)
        {
            backingId = 0;
            if (_blob is not { } blob)
                return false;
            backingId = decide(owner, blob);
            if (backingId >= 0)
                _openFiles++;
            return true;
        }
    }

    /// <summary>Counts an open that is about to wait for the blob (<see cref="DecideWaitingOpen"/> then settles it).</summary>
    public void AddWaitingOpen()
    {
        lock (_lock)
            _openFiles++;
    }

    /// <summary>
    /// The backing id for an open counted by <see cref="AddWaitingOpen"/> now that the blob is
    /// open; -1 when it must fail (no blob any more, or no backing file for a passthrough inode),
    /// and then the caller closes it (<see cref="CloseFile"/>).
    /// </summary>
    public int DecideWaitingOpen(Func<InodeRecord, OpenBlob, int> decide)
    {
        lock (_lock)
            return _blob is { } blob ? decide(owner, blob) : -1;
    }

    /// <summary>
    /// One open file fewer. When none is left the blob is taken out and returned (the caller
    /// disposes of it) if the kernel no longer references the inode (<paramref name="forgotten"/>:
    /// its forget overtook this release, the record can go now), or if <paramref name="dropIdle"/>
    /// says an idle local blob should not keep its descriptor.
    /// </summary>
    public OpenBlob? CloseFile(Func<bool> dropIdle, out bool forgotten)
    {
        forgotten = false;
        lock (_lock)
        {
            if (--_openFiles > 0)
                return null;
            if (owner.Lookups == 0)
            {
                forgotten = true;
                return TakeLocked();
            }
            return _blob is { LocalFile: not null } && dropIdle() ? TakeLocked() : null;
        }
    }

    /// <summary>Takes the blob out if no file is open on it and <paramref name="dropIdle"/> says so (read ahead, never opened).</summary>
    public OpenBlob? TakeIfIdle(Func<bool> dropIdle)
    {
        lock (_lock)
            return _openFiles == 0 && _blob is { LocalFile: not null } && dropIdle() ? TakeLocked() : null;
    }

    /// <summary>Takes the blob out (the kernel forgot the inode, it is retired, or unmounting); the caller disposes of it.</summary>
    public OpenBlob? Take()
    {
        lock (_lock)
            return TakeLocked();
    }

    private OpenBlob? TakeLocked()
    {
        if (_blob is not { } blob)
            return null; // none, or its open is still in flight (which keeps its slot)
        Volatile.Write(ref _blob, null);
        Volatile.Write(ref _opening, null);
        return blob;
    }
}
