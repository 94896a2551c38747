using System.Collections.Concurrent;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Filesystem;

/// <summary>
/// Inode numbers for store content. Numbers are handed out by content: one live number per
/// directory digest, per (blob digest, executable bit) and per symlink target. Files are keyed by
/// the executable bit too because a number carries one mode. A record the kernel has forgotten can
/// be removed (<see cref="Remove"/>); the same content then gets a fresh number, never a reused one.
/// Records the kernel has forgotten wait in a ring of the recently forgotten; the one a full ring
/// pushes out is retired (removed with everything it holds) if still unreferenced.
/// Reads by number go through a chunked array with no lock; the content maps are concurrent
/// dictionaries, so lookups on different inodes never contend.
/// </summary>
internal sealed class InodeTable
{
    private const int ChunkBits = 10;
    private const int ChunkSize = 1 << ChunkBits;

    private readonly Lock _growLock = new();
    private Chunk?[] _chunks = new Chunk?[64];
    private long _lastInode;

    private readonly ConcurrentDictionary<DirectoryKey, InodeRecord> _directories = new();
    private readonly ConcurrentDictionary<FileKey, InodeRecord> _files = new();
    private readonly ConcurrentDictionary<byte[], InodeRecord> _symlinks = new(ByteArrayContentComparer.Instance);

    /// <param name="forgottenInodes">How many forgotten records wait in the ring before the oldest is retired.</param>
    /// <param name="retired">Drops what the filesystem keeps for a record being retired (its blob, root entries).</param>
    public InodeTable(int forgottenInodes, Action<InodeRecord> retired)
    {
        _forgotten = new InodeRecord?[Math.Max(forgottenInodes, 0)];
        _retired = retired;
        ulong rootInode = NextInode();
        Root = InodeRecord.Root(rootInode);
        Publish(Root);
    }

    private readonly Action<InodeRecord> _retired;

    // Recently forgotten records, oldest first (a ring of StoreFilesystemOptions.ForgottenInodes).
    private readonly Lock _forgottenLock = new();
    private readonly InodeRecord?[] _forgotten;
    private int _forgottenHead;
    private int _forgottenCount;

    /// <summary>
    /// Queues a record whose lookup count fell to 0 (once, however often it is forgotten while
    /// queued); the record it pushes out of the full queue is retired if still unreferenced.
    /// </summary>
    public void QueueForgotten(InodeRecord record)
    {
        if (!record.TryMarkQueuedForgotten())
            return;
        InodeRecord? evicted = record;
        if (_forgotten.Length > 0)
        {
            lock (_forgottenLock)
            {
                if (_forgottenCount < _forgotten.Length)
                {
                    _forgotten[(_forgottenHead + _forgottenCount++) % _forgotten.Length] = record;
                    evicted = null;
                }
                else
                {
                    evicted = _forgotten[_forgottenHead];
                    _forgotten[_forgottenHead] = record;
                    _forgottenHead = (_forgottenHead + 1) % _forgotten.Length;
                }
            }
        }
        if (evicted is null)
            return;
        evicted.ClearQueuedForgotten();
        // Referenced again meanwhile, or a file still open (forget can overtake release): it stays
        // and is queued again at its next forget or last release.
        Retire(evicted);
    }

    /// <summary>
    /// Drops a record the kernel does not reference from the table with everything it holds: its
    /// number and content key, its entries, and (through the filesystem's callback) its blob and
    /// the store paths' root entries naming it.
    /// Children left unreferenced (never looked up, or only through this directory) go with it.
    /// </summary>
    private void Retire(InodeRecord first)
    {
        if (first.IsRoot || !first.TryRetire())
            return;
        Stack<InodeRecord>? pending = null;
        InodeRecord? record = first;
        while (record is not null)
        {
            Remove(record);
            _retired(record);
            if (record.TakeContents() is { } contents)
            {
                for (int i = 0; i < contents.Count; i++)
                {
                    InodeRecord child = contents.Record(i);
                    // A queued child is retired by the queue; a referenced one stays.
                    if (!child.IsQueuedForgotten && !child.IsRoot && child.TryRetire())
                        (pending ??= new Stack<InodeRecord>()).Push(child);
                }
            }
            record = pending is { Count: > 0 } ? pending.Pop() : null;
        }
    }


    public InodeRecord Root { get; }

    private long _count;

    /// <summary>
    /// Number of content inodes in the table (the root not counted; retired ones are not). A counter of its own:
    /// ConcurrentDictionary.Count takes every lock of the map, which statfs would contend on.
    /// </summary>
    public long Count => Volatile.Read(ref _count);

    /// <summary>Every file inode handed out (a snapshot walk; for shutdown).</summary>
    public IEnumerable<InodeRecord> Files => _files.Values;

    public InodeRecord? Get(ulong inode)
    {
        ulong chunkIndex = inode >> ChunkBits;
        Chunk?[] chunks = Volatile.Read(ref _chunks);
        if (chunkIndex >= (ulong)chunks.Length)
            return null;
        Chunk? chunk = Volatile.Read(ref chunks[chunkIndex]);
        return chunk is null ? null : Volatile.Read(ref chunk.Slots[inode & (ChunkSize - 1)]);
    }

    /// <summary>Chunks of the number→record array in memory (each holds 1024 numbers).</summary>
    internal int ChunkCount
    {
        get
        {
            int count = 0;
            foreach (Chunk? chunk in Volatile.Read(ref _chunks))
                count += chunk is null ? 0 : 1;
            return count;
        }
    }

    // Each GetOrAdd may meet a record retired but not yet removed: it removes the key itself and
    // tries again, so a caller never gets a record that was retired before the call.
    public InodeRecord GetOrAddDirectory(B3Digest digest, long size)
    {
        var key = new DirectoryKey(digest, size);
        while (true)
        {
            InodeRecord record = _directories.TryGetValue(key, out InodeRecord? existing)
                ? existing
                : AddOrGetExisting(_directories, key, InodeRecord.Directory(NextInode(), digest, size));
            if (!record.IsRetired)
                return record;
            RemoveKey(_directories, key, record);
        }
    }

    public InodeRecord GetOrAddFile(B3Digest digest, long size, bool executable)
    {
        var key = new FileKey(digest, size, executable);
        while (true)
        {
            InodeRecord record = _files.TryGetValue(key, out InodeRecord? existing)
                ? existing
                : AddOrGetExisting(_files, key, InodeRecord.File(NextInode(), digest, size, executable));
            if (!record.IsRetired)
                return record;
            RemoveKey(_files, key, record);
        }
    }

    /// <summary><paramref name="targetWithNul"/> is the target followed by one NUL; the table keeps the array.</summary>
    public InodeRecord GetOrAddSymlink(byte[] targetWithNul)
    {
        while (true)
        {
            InodeRecord record = _symlinks.TryGetValue(targetWithNul, out InodeRecord? existing)
                ? existing
                : AddOrGetExisting(_symlinks, targetWithNul, InodeRecord.Symlink(NextInode(), targetWithNul));
            if (!record.IsRetired)
                return record;
            RemoveKey(_symlinks, targetWithNul, record);
        }
    }

    private void RemoveKey<TKey>(ConcurrentDictionary<TKey, InodeRecord> map, TKey key, InodeRecord record)
        where TKey : notnull
    {
        if (map.TryRemove(new KeyValuePair<TKey, InodeRecord>(key, record)))
            Interlocked.Decrement(ref _count);
    }

    /// <summary>
    /// The table's record for the same content as a retired record: the current one if another
    /// caller already recreated it, else a new one under a fresh number.
    /// </summary>
    public InodeRecord Recreate(InodeRecord retired) => retired.Kind switch
    {
        InodeKind.Directory => GetOrAddDirectory(retired.Digest, retired.Size),
        InodeKind.File => GetOrAddFile(retired.Digest, retired.Size, retired.Executable),
        _ => GetOrAddSymlink(retired.SymlinkTargetWithNul!),
    };

    /// <summary>
    /// Drops a record that has just been retired (<see cref="InodeRecord.TryRetire"/>): its content
    /// key first, so the next lookup of that content makes a new record, then its number, which
    /// the kernel no longer holds.
    /// </summary>
    public void Remove(InodeRecord record)
    {
        switch (record.Kind)
        {
            case InodeKind.Directory:
                RemoveKey(_directories, new DirectoryKey(record.Digest, record.Size), record);
                break;
            case InodeKind.File:
                RemoveKey(_files, new FileKey(record.Digest, record.Size, record.Executable), record);
                break;
            default:
                RemoveKey(_symlinks, record.SymlinkTargetWithNul!, record);
                break;
        }
        Unpublish(record.Inode);
    }

    private InodeRecord AddOrGetExisting<TKey>(ConcurrentDictionary<TKey, InodeRecord> map, TKey key, InodeRecord fresh)
        where TKey : notnull
    {
        // Publish by number first: once the record is in the map another thread may hand its
        // number to the kernel, which may ask for it at once. A loser's number is simply never used.
        Publish(fresh);
        InodeRecord winner = map.GetOrAdd(key, fresh);
        if (ReferenceEquals(winner, fresh))
            Interlocked.Increment(ref _count);
        else
            Unpublish(fresh.Inode);
        return winner;
    }

    private ulong NextInode() => (ulong)Interlocked.Increment(ref _lastInode);

    private void Publish(InodeRecord record)
    {
        while (true)
        {
            Chunk chunk = ChunkFor(record.Inode);
            // A retired chunk's count is far below zero: it is being replaced, try again.
            if (Interlocked.Increment(ref chunk.Live) > 0)
            {
                Volatile.Write(ref chunk.Slots[record.Inode & (ChunkSize - 1)], record);
                return;
            }
            Thread.Yield();
        }
    }

    /// <summary>
    /// Clears a number. A chunk whose numbers have all been handed out and whose last record is
    /// gone is dropped, so the array stays proportional to live records, not to numbers ever used.
    /// </summary>
    private void Unpublish(ulong inode)
    {
        ulong chunkIndex = inode >> ChunkBits;
        // The chunk holding a published record cannot be retired (its count includes the record).
        Chunk chunk = Volatile.Read(ref Volatile.Read(ref _chunks)[chunkIndex])!;
        Volatile.Write(ref chunk.Slots[inode & (ChunkSize - 1)], null);
        if (Interlocked.Decrement(ref chunk.Live) != 0 || (ulong)Volatile.Read(ref _lastInode) < ((chunkIndex + 1) << ChunkBits) - 1)
            return;
        lock (_growLock)
        {
            // A number of this chunk still being published takes a fresh chunk (Publish retries).
            if (Interlocked.CompareExchange(ref chunk.Live, int.MinValue / 2, 0) == 0)
                Volatile.Write(ref _chunks[chunkIndex], null);
        }
    }

    private Chunk ChunkFor(ulong inode)
    {
        ulong chunkIndex = inode >> ChunkBits;
        Chunk?[] chunks = Volatile.Read(ref _chunks);
        if (chunkIndex < (ulong)chunks.Length && Volatile.Read(ref chunks[chunkIndex]) is { } chunk)
            return chunk;

        // Rare (once per ChunkSize inodes): grow and allocate under one lock so no chunk is lost
        // to a concurrent copy of the top array.
        lock (_growLock)
        {
            chunks = _chunks;
            if (chunkIndex >= (ulong)chunks.Length)
            {
                var grown = new Chunk?[Math.Max(chunks.Length * 2, (int)chunkIndex + 1)];
                Array.Copy(chunks, grown, chunks.Length);
                Volatile.Write(ref _chunks, grown);
                chunks = grown;
            }
            return chunks[chunkIndex] ??= new Chunk();
        }
    }

    /// <summary>Records for 1024 consecutive numbers, and how many of them are published.</summary>
    private sealed class Chunk
    {
        public readonly InodeRecord?[] Slots = new InodeRecord?[ChunkSize];
        public int Live;
    }

    // The size a node claims is part of the key: an honest store gives one digest one size, and a
    // node lying about it gets an inode of its own (which then fails its checks) instead of
    // changing the attributes of healthy files and directories that share the content.
    private readonly record struct DirectoryKey(B3Digest Digest, long Size);

    private readonly record struct FileKey(B3Digest Digest, long Size, bool Executable);
}

/// <summary>Compares byte arrays by content (symlink targets as dictionary keys).</summary>
internal sealed class ByteArrayContentComparer : IEqualityComparer<byte[]>
{
    public static ByteArrayContentComparer Instance { get; } = new();

    public bool Equals(byte[]? x, byte[]? y) =>
        ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan().SequenceEqual(y));

    public int GetHashCode(byte[] bytes)
    {
        var hash = new HashCode();
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }
}
