using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Local;

/// <summary>
/// One on-disk store directory (<c>local:///ABS/DIR</c>): its layout and the one way anything is
/// written into it. Every object is written to a temp file under <c>tmp/</c>, made durable (alone,
/// or with its batch: <see cref="PublishBatch"/>), renamed to its final name and the rename made
/// durable, so a final name only ever holds a complete, durable object and any number of
/// processes can read and write at once (rename is atomic; content-addressed names make
/// concurrent writers of one object agree).
/// See README.md for the format.
/// </summary>
public sealed class LocalStore
{
    /// <summary>First line of the marker file; a different format is refused rather than misread.</summary>
    public const string FormatMarker = "tvixlowfs local store, format 1";
    public const string MarkerFileName = "tvixlowfs-store";

    // Temp files older than this whose writer no longer holds their lock are a crashed writer's leftovers.
    private static readonly TimeSpan StaleTempAge = TimeSpan.FromHours(1);

    private readonly ConcurrentDictionary<string, bool> _knownShards = new(StringComparer.Ordinal);

    // Temp names: this process (pid, and a random tag for a pid reused in another container) and a
    // process-wide counter (several LocalStores of one directory may live in one process). A Guid each cost a read of /dev/urandom per object; O_EXCL still catches any clash.
    private static readonly string ProcessTag = $"{Environment.ProcessId}-{Random.Shared.NextInt64():x16}";
    private static long s_tempCounter;

    private LocalStore(string root)
    {
        Root = root;
        BlobsDirectory = Path.Join(root, "blobs");
        DirectoriesDirectory = Path.Join(root, "directories");
        PathInfosDirectory = Path.Join(root, "pathinfos");
        TempDirectory = Path.Join(root, "tmp");
    }

    public string Root { get; }
    public string BlobsDirectory { get; }
    public string DirectoriesDirectory { get; }
    public string PathInfosDirectory { get; }
    public string TempDirectory { get; }

    /// <summary>Opens the store at <paramref name="root"/>, creating it on first use.</summary>
    public static LocalStore Open(string root)
    {
        if (!Path.IsPathFullyQualified(root))
            throw new ArgumentException($"a local store needs an absolute path, got '{root}'", nameof(root));
        var store = new LocalStore(root);
        try
        {
            store.Initialize();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreUnavailableException($"cannot open local store '{root}': {SystemErrorText.Of(e)}", e);
        }
        return store;
    }

    private void Initialize()
    {
        string marker = Path.Join(Root, MarkerFileName);
        if (File.Exists(marker))
        {
            string firstLine = File.ReadLines(marker).FirstOrDefault() ?? "";
            if (firstLine != FormatMarker)
                throw new IOException($"'{marker}' says '{firstLine}', expected '{FormatMarker}'");
        }
        else if (System.IO.Directory.Exists(Root))
        {
            // Refuse to spread a store over an unrelated directory; our own entries may already
            // be there because another process is creating the store right now.
            string? foreign = System.IO.Directory.EnumerateFileSystemEntries(Root)
                .Select(Path.GetFileName)
                .FirstOrDefault(name => name is not ("blobs" or "directories" or "pathinfos" or "tmp" or MarkerFileName));
            if (foreign is not null)
                throw new IOException($"the directory holds '{foreign}' and no '{MarkerFileName}' marker: it is not a tvixlowfs store");
        }
        // One fsync for the four subdirectories (and one of the parent for a new root), not one each.
        bool newRoot = !System.IO.Directory.Exists(Root);
        System.IO.Directory.CreateDirectory(Root);
        bool newSubdirectory = false;
        foreach (string directory in new[] { BlobsDirectory, DirectoriesDirectory, PathInfosDirectory, TempDirectory })
        {
            if (!System.IO.Directory.Exists(directory))
            {
                System.IO.Directory.CreateDirectory(directory);
                newSubdirectory = true;
            }
        }
        if (newSubdirectory)
            StoreFiles.FSyncDirectory(Root);
        if (newRoot && Path.GetDirectoryName(Root) is { } parent)
            StoreFiles.FSyncDirectory(parent);
        if (!File.Exists(marker))
            WriteAtomically(marker, System.Text.Encoding.UTF8.GetBytes(FormatMarker + "\n"), overwrite: false);
        RemoveStaleTempFiles();
    }

    /// <summary>The error for a failed read or write in this store: names the store, says what failed.</summary>
    public StoreUnavailableException Failure(string doing, Exception exception) =>
        new($"local store '{Root}': {doing} failed: {SystemErrorText.Of(exception)}", exception);

    public string BlobPath(B3Digest digest) => ShardedPath(BlobsDirectory, digest);

    public string DirectoryPath(B3Digest digest) => ShardedPath(DirectoriesDirectory, digest);

    public string PathInfoPath(StorePathHash hash)
    {
        Span<byte> bytes = stackalloc byte[StorePathHash.Length];
        hash.CopyTo(bytes);
        return Path.Join(PathInfosDirectory, NixBase32.Encode(bytes));
    }

    private static string ShardedPath(string directory, B3Digest digest)
    {
        string hex = digest.ToHex();
        return Path.Join(directory, hex[..2], hex);
    }

    /// <summary>
    /// A new temp file, exclusively flock'ed by this process for as long as it is open: the
    /// stale-temp sweep (which takes the same lock, as .NET does for FileShare.None) never touches a live one.
    /// </summary>
    public (string Path, SafeFileHandle Handle) CreateTempFile(string kind)
    {
        string path = Path.Join(TempDirectory, $"{kind}-{ProcessTag}-{Interlocked.Increment(ref s_tempCounter):x}");
        SafeFileHandle handle = StoreFiles.CreateLocked(path);
        return (path, handle);
    }

    /// <summary>
    /// Moves a complete temp file to its final name: fsync the data, rename, fsync the directory.
    /// With <paramref name="overwrite"/> false an existing object is kept and the temp file dropped
    /// (content-addressed objects: same name, same bytes), even one another process publishes at the
    /// same instant (<see cref="StoreFiles.RenameNoReplace"/>). Returns false when nothing was renamed.
    /// </summary>
    public bool Publish(string tempPath, SafeFileHandle tempHandle, string finalPath, bool overwrite)
    {
        try
        {
            if (!overwrite && StoreFiles.Exists(finalPath))
                return false;
            RandomAccess.FlushToDisk(tempHandle);
            // Unlock before the rename: the temp file's exclusive flock would otherwise sit on the
            // final name for a moment, and a reader in another process (which takes a shared lock) would fail.
            tempHandle.Dispose();
            string directory = Path.GetDirectoryName(finalPath)!;
            EnsureShard(directory);
            // Without overwrite the name is taken only if it is still free (another process may
            // have published it since the check): exactly one writer of a name ever wins.
            if (overwrite)
                StoreFiles.Rename(tempPath, finalPath);
            else if (!StoreFiles.RenameNoReplace(tempPath, finalPath))
                return false;
            StoreFiles.FSyncDirectory(directory);
            return true;
        }
        finally
        {
            tempHandle.Dispose();
            File.Delete(tempPath); // no-op after the rename
        }
    }

    /// <summary>Writes a small object (a Directory, a PathInfo) the same crash-safe way.</summary>
    public bool WriteAtomically(string finalPath, ReadOnlySpan<byte> bytes, bool overwrite)
    {
        if (!overwrite && StoreFiles.Exists(finalPath))
            return false;
        (string tempPath, SafeFileHandle handle) = CreateTempFile("object");
        try
        {
            RandomAccess.Write(handle, bytes, 0);
        }
        catch
        {
            handle.Dispose();
            File.Delete(tempPath);
            throw;
        }
        return Publish(tempPath, handle, finalPath, overwrite);
    }

    /// <summary>
    /// Publishes several small objects in order (a Directory graph, leaves first), without
    /// overwriting: each is written to a temp file, then all are made durable at once and renamed in
    /// the given order, then the renames are made durable (<see cref="PublishBatch"/>). A few syncs
    /// for the whole graph instead of two fsyncs per object, and as safe: no final name ever holds
    /// bytes that are not on disk, and the renames happen in order.
    /// </summary>
    public void WriteAllAtomically(IReadOnlyList<(string FinalPath, ReadOnlyMemory<byte> Bytes)> objects)
    {
        ArgumentNullException.ThrowIfNull(objects);
        var written = new List<(string TempPath, string FinalPath)>(objects.Count);
        int renamed = 0;
        try
        {
            foreach ((string finalPath, ReadOnlyMemory<byte> bytes) in objects)
            {
                if (StoreFiles.Exists(finalPath))
                    continue;
                (string tempPath, SafeFileHandle handle) = CreateTempFile("object");
                written.Add((tempPath, finalPath));
                using (handle)
                    StoreFiles.WriteAll(handle, bytes.Span, tempPath);
            }
            var batch = new PublishBatch(this);
            batch.SyncTempFiles(written.ConvertAll(w => w.TempPath));
            foreach ((string tempPath, string finalPath) in written)
            {
                batch.Rename(tempPath, finalPath);
                renamed++;
            }
            batch.SyncRenames();
        }
        finally
        {
            // Renamed in order: the ones from here on are still temp files.
            for (int i = renamed; i < written.Count; i++)
                TryDelete(written[i].TempPath);
        }
    }

    /// <summary>Deletes a file if it is there; a failure only leaves a temp file for the stale-temp sweep.</summary>
    public static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Whether this shard directory is known to exist durably (a rename into it needs no sync of its parent).</summary>
    internal bool IsDurableShard(string directory) => _knownShards.ContainsKey(directory);

    /// <summary>Records a shard directory whose creation a <see cref="PublishBatch"/> has made durable.</summary>
    internal void MarkDurableShard(string directory) => _knownShards.TryAdd(directory, true);

    /// <summary>Creates a shard directory (blobs/ab) once, durably, so renames into it survive a crash.</summary>
    private void EnsureShard(string directory)
    {
        if (_knownShards.ContainsKey(directory))
            return;
        CreateDirectoryDurably(directory);
        _knownShards.TryAdd(directory, true);
    }

    private static void CreateDirectoryDurably(string directory)
    {
        if (System.IO.Directory.Exists(directory))
            return;
        System.IO.Directory.CreateDirectory(directory);
        string? parent = Path.GetDirectoryName(directory);
        if (parent is not null)
            StoreFiles.FSyncDirectory(parent);
    }

    /// <summary>Removes temp files a crashed writer left behind: old, and with no live writer holding their lock.</summary>
    private void RemoveStaleTempFiles()
    {
        DateTime cutoff = DateTime.UtcNow - StaleTempAge;
        foreach (string path in System.IO.Directory.EnumerateFiles(TempDirectory))
        {
            try
            {
                if (File.GetLastWriteTimeUtc(path) > cutoff)
                    continue;
                using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
                File.Delete(path);
            }
            catch (IOException)
            {
                // Still being written, or already gone: leave it.
            }
        }
    }
}
