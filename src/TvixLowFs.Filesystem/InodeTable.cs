using System.Collections.Concurrent;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Filesystem;

/// <summary>
/// Inode numbers for store content. Numbers are handed out by content: one number per directory
/// digest, per (blob digest, executable bit) and per symlink target, stable for the life of the
/// mount. Files are keyed by the executable bit too because a number carries one mode.
/// Reads by number go through a chunked array with no lock; the content maps are concurrent
/// dictionaries, so lookups on different inodes never contend.
/// </summary>
internal sealed class InodeTable
{
    private const int ChunkBits = 10;
    private const int ChunkSize = 1 << ChunkBits;

    private readonly Lock _growLock = new();
    private InodeRecord?[]?[] _chunks = new InodeRecord?[]?[64];
    private long _lastInode;

    private readonly ConcurrentDictionary<B3Digest, InodeRecord> _directories = new();
    private readonly ConcurrentDictionary<FileKey, InodeRecord> _files = new();
    private readonly ConcurrentDictionary<byte[], InodeRecord> _symlinks = new(ByteArrayContentComparer.Instance);

    public InodeTable()
    {
        ulong rootInode = NextInode();
        Root = InodeRecord.Root(rootInode);
        Publish(Root);
    }

    public InodeRecord Root { get; }

    private long _count;

    /// <summary>
    /// Number of content inodes handed out so far (the root not counted). A counter of its own:
    /// ConcurrentDictionary.Count takes every lock of the map, which statfs would contend on.
    /// </summary>
    public long Count => Volatile.Read(ref _count);

    /// <summary>Every file inode handed out (a snapshot walk; for shutdown).</summary>
    public IEnumerable<InodeRecord> Files => _files.Values;

    public InodeRecord? Get(ulong inode)
    {
        ulong chunkIndex = inode >> ChunkBits;
        InodeRecord?[]?[] chunks = Volatile.Read(ref _chunks);
        if (chunkIndex >= (ulong)chunks.Length)
            return null;
        InodeRecord?[]? chunk = Volatile.Read(ref chunks[chunkIndex]);
        return chunk is null ? null : Volatile.Read(ref chunk[inode & (ChunkSize - 1)]);
    }

    public InodeRecord GetOrAddDirectory(B3Digest digest, long size) =>
        _directories.TryGetValue(digest, out InodeRecord? existing)
            ? existing
            : AddOrGetExisting(_directories, digest, InodeRecord.Directory(NextInode(), digest, size));

    public InodeRecord GetOrAddFile(B3Digest digest, long size, bool executable)
    {
        var key = new FileKey(digest, executable);
        return _files.TryGetValue(key, out InodeRecord? existing)
            ? existing
            : AddOrGetExisting(_files, key, InodeRecord.File(NextInode(), digest, size, executable));
    }

    /// <summary><paramref name="targetWithNul"/> is the target followed by one NUL; the table keeps the array.</summary>
    public InodeRecord GetOrAddSymlink(byte[] targetWithNul) =>
        _symlinks.TryGetValue(targetWithNul, out InodeRecord? existing)
            ? existing
            : AddOrGetExisting(_symlinks, targetWithNul, InodeRecord.Symlink(NextInode(), targetWithNul));

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

    private void Publish(InodeRecord record) => Volatile.Write(ref ChunkFor(record.Inode)[record.Inode & (ChunkSize - 1)], record);

    private void Unpublish(ulong inode) => Volatile.Write(ref ChunkFor(inode)[inode & (ChunkSize - 1)], null);

    private InodeRecord?[] ChunkFor(ulong inode)
    {
        ulong chunkIndex = inode >> ChunkBits;
        InodeRecord?[]?[] chunks = Volatile.Read(ref _chunks);
        if (chunkIndex < (ulong)chunks.Length && Volatile.Read(ref chunks[chunkIndex]) is { } chunk)
            return chunk;

        // Rare (once per ChunkSize inodes): grow and allocate under one lock so no chunk is lost
        // to a concurrent copy of the top array.
        lock (_growLock)
        {
            chunks = _chunks;
            if (chunkIndex >= (ulong)chunks.Length)
            {
                var grown = new InodeRecord?[]?[Math.Max(chunks.Length * 2, (int)chunkIndex + 1)];
                Array.Copy(chunks, grown, chunks.Length);
                Volatile.Write(ref _chunks, grown);
                chunks = grown;
            }
            return chunks[chunkIndex] ??= new InodeRecord?[ChunkSize];
        }
    }

    private readonly record struct FileKey(B3Digest Digest, bool Executable);
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
