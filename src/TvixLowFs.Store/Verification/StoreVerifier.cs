using System.Buffers;
using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.Win32.SafeHandles;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Verification;

/// <summary>
/// Checks a whole store and reports every damaged or missing object (<c>tvixlowfs verify</c>).
/// <para>
/// A local service is checked file by file, so objects nothing refers to are checked too: every
/// blob file hashes to its name; every directory file hashes to its name, decodes, is canonical,
/// keeps every Directory rule, and its children are present (child directories with the size its
/// node states, files with the size of their blob); every PathInfo file decodes, is valid, is
/// stored under the hash of its node's name, and its root's data is present. A remote service
/// cannot be enumerated, so it is checked from the PathInfo listing down: each root, each
/// Directory reachable from it, each blob reachable from those (read and hashed once).
/// </para>
/// Damage is reported, never thrown; a store that cannot be read at all (a daemon down, a
/// permission error) is a <see cref="StoreUnavailableException"/>.
/// </summary>
public sealed class StoreVerifier(StoreServices store, Action<StoreDamage> report)
{
    private const int HashBufferSize = 1 << 20;

    // What is known so far; a digest in neither map of its kind is unknown (or missing, once its files were scanned).
    private readonly ConcurrentDictionary<B3Digest, long> _goodBlobs = new();
    private readonly ConcurrentDictionary<B3Digest, bool> _badBlobs = new();
    private readonly Dictionary<B3Digest, ulong> _goodDirectories = [];
    private readonly HashSet<B3Digest> _badDirectories = [];
    private bool _blobsScanned, _directoriesScanned;
    private long _blobs, _directories, _pathInfos, _damaged;

    public async Task<StoreVerificationSummary> VerifyAsync(CancellationToken cancellationToken = default)
    {
        if (store.Blobs is LocalBlobService localBlobs)
        {
            ScanLocalBlobs(localBlobs.Store, cancellationToken);
            _blobsScanned = true;
        }
        if (store.Directories is LocalDirectoryService localDirectories)
        {
            await ScanLocalDirectoriesAsync(localDirectories.Store, cancellationToken).ConfigureAwait(false);
            _directoriesScanned = true;
        }
        if (store.PathInfos is LocalPathInfoService localPathInfos)
            await ScanLocalPathInfosAsync(localPathInfos.Store, cancellationToken).ConfigureAwait(false);
        else
            await CheckListedPathInfosAsync(cancellationToken).ConfigureAwait(false);
        return new StoreVerificationSummary(_blobs, _directories, _pathInfos, Interlocked.Read(ref _damaged));
    }

    private void Damage(StoreObjectKind kind, string name, string problem)
    {
        Interlocked.Increment(ref _damaged);
        lock (report)
            report(new StoreDamage(kind, name, problem));
    }

    // ---- blobs ----

    private void ScanLocalBlobs(LocalStore local, CancellationToken cancellationToken)
    {
        var files = System.IO.Directory.EnumerateFiles(local.BlobsDirectory, "*", SearchOption.AllDirectories);
        var options = new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = Environment.ProcessorCount };
        Parallel.ForEach(files, options, () => new byte[HashBufferSize], (path, _, buffer) =>
        {
            Interlocked.Increment(ref _blobs);
            if (!TryDigestOfFileName(path, out B3Digest digest))
            {
                Damage(StoreObjectKind.Blob, path, "the file name is not a digest (not written by a store)");
                return buffer;
            }
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            long length = RandomAccess.GetLength(handle);
            var hasher = new Blake3Hasher();
            long offset = 0;
            int read;
            while ((read = RandomAccess.Read(handle, buffer, offset)) > 0)
            {
                hasher.Update(buffer.AsSpan(0, read));
                offset += read;
            }
            B3Digest actual = hasher.Finish();
            if (actual != digest)
            {
                _badBlobs.TryAdd(digest, true);
                Damage(StoreObjectKind.Blob, digest.ToString(), $"its bytes hash to {actual} ({path})");
            }
            else
            {
                _goodBlobs.TryAdd(digest, length);
            }
            return buffer;
        }, _ => { });
    }

    /// <summary>
    /// Checks that a referred blob is present, intact and <paramref name="size"/> bytes long; a
    /// remote blob is read and hashed the first time it is referred to. Returns the problem for
    /// the referrer to report, or null (a damaged blob is reported as itself, once).
    /// </summary>
    private async ValueTask<string?> CheckBlobAsync(B3Digest digest, long size, string referrer, CancellationToken cancellationToken)
    {
        if (_badBlobs.ContainsKey(digest))
            return null;
        if (!_goodBlobs.TryGetValue(digest, out long actual))
        {
            if (_blobsScanned)
            {
                _badBlobs.TryAdd(digest, true);
                Damage(StoreObjectKind.Blob, digest.ToString(), $"missing ({referrer} refers to it)");
                return null;
            }
            long? hashed = await HashRemoteBlobAsync(digest, referrer, cancellationToken).ConfigureAwait(false);
            if (hashed is null)
                return null;
            actual = hashed.Value;
        }
        return actual == size ? null : $"it says blob {digest} has {size} bytes, the blob has {actual}";
    }

    private async ValueTask<long?> HashRemoteBlobAsync(B3Digest digest, string referrer, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _blobs);
        try
        {
            using BlobReader? reader = await store.Blobs.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false);
            if (reader is null)
            {
                _badBlobs.TryAdd(digest, true);
                Damage(StoreObjectKind.Blob, digest.ToString(), $"missing ({referrer} refers to it)");
                return null;
            }
            byte[] buffer = ArrayPool<byte>.Shared.Rent(HashBufferSize);
            var hasher = new Blake3Hasher();
            try
            {
                long offset = 0;
                int read;
                while ((read = await reader.ReadAtAsync(offset, buffer.AsMemory(0, HashBufferSize), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hasher.Update(buffer.AsSpan(0, read));
                    offset += read;
                }
                B3Digest actual = hasher.Finish();
                if (actual != digest || offset != reader.Length)
                {
                    _badBlobs.TryAdd(digest, true);
                    Damage(StoreObjectKind.Blob, digest.ToString(), actual != digest
                        ? $"its bytes hash to {actual}"
                        : $"it claims {reader.Length} bytes and gives {offset}");
                    return null;
                }
                _goodBlobs.TryAdd(digest, offset);
                return offset;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (StoreValidationException e)
        {
            _badBlobs.TryAdd(digest, true);
            Damage(StoreObjectKind.Blob, digest.ToString(), e.Message);
            return null;
        }
    }

    // ---- directories ----

    private async Task ScanLocalDirectoriesAsync(LocalStore local, CancellationToken cancellationToken)
    {
        // Pass 1: each file on its own (hash, decoding, canonical form, rules, own size).
        var intact = new List<(B3Digest Digest, string Path)>();
        foreach (string path in System.IO.Directory.EnumerateFiles(local.DirectoriesDirectory, "*", SearchOption.AllDirectories))
        {
            cancellationToken.ThrowIfCancellationRequested();
            _directories++;
            if (!TryDigestOfFileName(path, out B3Digest digest))
            {
                Damage(StoreObjectKind.Directory, path, "the file name is not a digest (not written by a store)");
                continue;
            }
            VerifiedDirectory? directory = DecodeStoredDirectory(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false), digest, path);
            if (directory is null)
                continue;
            _goodDirectories[digest] = directory.Size;
            intact.Add((digest, path));
        }
        // Pass 2: references, now that every directory's state is known (re-read: memory stays small).
        foreach ((B3Digest digest, string path) in intact)
        {
            Directory directory = Directory.Parser.ParseFrom(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false));
            await CheckChildrenAsync(digest, directory, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Decodes and checks one stored Directory on its own; reports and returns null when it is damaged.</summary>
    private VerifiedDirectory? DecodeStoredDirectory(byte[] bytes, B3Digest digest, string where)
    {
        // Hashed once, as stored; then decoded, checked and compared with its canonical form.
        if (VerifiedDirectory.TryFromCanonical(bytes, digest, out VerifiedDirectory? directory, out string? problem, out _))
            return directory;
        _badDirectories.Add(digest);
        Damage(StoreObjectKind.Directory, digest.ToString(), $"{problem} ({where})");
        return null;
    }

    /// <summary>Child directories present with the size their node states; files present with their stated size.</summary>
    private async ValueTask CheckChildrenAsync(B3Digest digest, Directory directory, CancellationToken cancellationToken)
    {
        string referrer = $"directory {digest}";
        foreach (DirectoryNode child in directory.Directories)
        {
            var childDigest = B3Digest.FromByteString(child.Digest);
            ulong? size = await DirectorySizeAsync(childDigest, $"{referrer}, entry {NodeNames.Escape(child.Name.Span)}", cancellationToken).ConfigureAwait(false);
            if (size is { } actual && actual != child.Size)
                Damage(StoreObjectKind.Directory, digest.ToString(),
                    $"{DirectoryRules.RuleChildSize}: directory {NodeNames.Escape(child.Name.Span)} says size {child.Size}, directory {childDigest} has {actual}");
        }
        foreach (FileNode file in directory.Files)
        {
            if (file.Size > long.MaxValue)
            {
                Damage(StoreObjectKind.Directory, digest.ToString(), $"file {NodeNames.Escape(file.Name.Span)} says size {file.Size}");
                continue;
            }
            string? problem = await CheckBlobAsync(B3Digest.FromByteString(file.Digest), (long)file.Size,
                $"{referrer}, file {NodeNames.Escape(file.Name.Span)}", cancellationToken).ConfigureAwait(false);
            if (problem is not null)
                Damage(StoreObjectKind.Directory, digest.ToString(), $"file {NodeNames.Escape(file.Name.Span)}: {problem}");
        }
    }

    /// <summary>
    /// The recursive size of a referred directory when it and everything below it is intact;
    /// null when it is missing or damaged (reported as itself, once).
    /// </summary>
    private async ValueTask<ulong?> DirectorySizeAsync(B3Digest digest, string referrer, CancellationToken cancellationToken)
    {
        if (_goodDirectories.TryGetValue(digest, out ulong size))
            return size;
        if (_badDirectories.Contains(digest))
            return null;
        if (!_directoriesScanned)
            return await WalkRemoteDirectoriesAsync(digest, referrer, cancellationToken).ConfigureAwait(false);
        _badDirectories.Add(digest);
        Damage(StoreObjectKind.Directory, digest.ToString(), $"missing ({referrer} refers to it)");
        return null;
    }

    /// <summary>Fetches a remote directory graph, then checks it children first.</summary>
    private async ValueTask<ulong?> WalkRemoteDirectoriesAsync(B3Digest root, string referrer, CancellationToken cancellationToken)
    {
        var graph = new Dictionary<B3Digest, VerifiedDirectory>();
        try
        {
            VerifiedDirectory? first = await store.Directories.GetAsync(root, cancellationToken).ConfigureAwait(false);
            if (first is null)
            {
                _badDirectories.Add(root);
                Damage(StoreObjectKind.Directory, root.ToString(), $"missing ({referrer} refers to it)");
                return null;
            }
            // Verified by the service (each message once); the reader checks the stream's shape.
            var reader = new RecursiveGetReader(root);
            await foreach (VerifiedDirectory directory in store.Directories.GetRecursiveAsync(root, cancellationToken).ConfigureAwait(false))
            {
                reader.Accept(directory);
                graph.Add(directory.Digest, directory);
            }
            reader.Complete();
        }
        catch (Exception e) when (e is StoreValidationException or StoreNotFoundException)
        {
            _badDirectories.Add(root);
            Damage(StoreObjectKind.Directory, root.ToString(), $"its graph cannot be fetched intact: {e.Message}");
            return null;
        }
        // Children first (the shared leaves-first order: a reversed breadth-first order misplaces a
        // child shared at two depths), so each child's state is known when its parent is checked.
        foreach (VerifiedDirectory directory in DirectoryGraph.LeavesFirst(root, graph))
        {
            B3Digest digest = directory.Digest;
            if (_goodDirectories.ContainsKey(digest) || _badDirectories.Contains(digest))
                continue;
            _directories++;
            _goodDirectories[digest] = directory.Size;
            await CheckChildrenAsync(digest, directory.Message, cancellationToken).ConfigureAwait(false);
        }
        return _goodDirectories.TryGetValue(root, out ulong size) ? size : null;
    }

    // ---- PathInfos ----

    private async Task ScanLocalPathInfosAsync(LocalStore local, CancellationToken cancellationToken)
    {
        byte[] hashBytes = new byte[StorePathHash.Length];
        foreach (string path in System.IO.Directory.EnumerateFiles(local.PathInfosDirectory, "*", SearchOption.AllDirectories))
        {
            cancellationToken.ThrowIfCancellationRequested();
            _pathInfos++;
            string name = Path.GetFileName(path);
            if (name.Length != Model.StorePath.HashChars || !NixBase32.TryDecode(System.Text.Encoding.ASCII.GetBytes(name), hashBytes)
                || Path.GetDirectoryName(path) != local.PathInfosDirectory)
            {
                Damage(StoreObjectKind.PathInfo, path, "the file name is not a store path hash (not written by a store)");
                continue;
            }
            PathInfo pathInfo;
            try
            {
                pathInfo = PathInfo.Parser.ParseFrom(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false));
            }
            catch (InvalidProtocolBufferException e)
            {
                Damage(StoreObjectKind.PathInfo, path, $"the bytes are not a PathInfo message: {e.Message}");
                continue;
            }
            await CheckPathInfoAsync(pathInfo, StorePathHash.FromBytes(hashBytes), path, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task CheckListedPathInfosAsync(CancellationToken cancellationToken)
    {
        var seen = new HashSet<StorePathHash>();
        try
        {
            await foreach (PathInfo pathInfo in store.PathInfos.ListAsync(cancellationToken).ConfigureAwait(false))
            {
                _pathInfos++;
                await CheckPathInfoAsync(pathInfo, expected: null, where: "the PathInfo listing", cancellationToken, seen).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is StoreValidationException or InvalidProtocolBufferException)
        {
            Damage(StoreObjectKind.PathInfo, "(listing)", $"the listing stopped at a damaged PathInfo: {e.Message}");
        }
    }

    private async ValueTask CheckPathInfoAsync(PathInfo pathInfo, StorePathHash? expected, string where, CancellationToken cancellationToken,
        HashSet<StorePathHash>? seen = null)
    {
        Model.StorePath storePath;
        try
        {
            storePath = PathInfoRules.Validate(pathInfo);
        }
        catch (StoreValidationException e)
        {
            Damage(StoreObjectKind.PathInfo, where, e.Message);
            return;
        }
        string name = storePath.AbsolutePath;
        if (expected is { } hash && storePath.Hash != hash)
        {
            Damage(StoreObjectKind.PathInfo, name, $"stored under {where}, which is not the hash of its node's name");
            return;
        }
        if (seen is not null && !seen.Add(storePath.Hash))
            Damage(StoreObjectKind.PathInfo, name, "listed twice");
        Node node = pathInfo.Node;
        switch (node.NodeCase)
        {
            case Node.NodeOneofCase.Directory:
            {
                var digest = B3Digest.FromByteString(node.Directory.Digest);
                ulong? size = await DirectorySizeAsync(digest, $"PathInfo {name}", cancellationToken).ConfigureAwait(false);
                if (size is { } actual && actual != node.Directory.Size)
                    Damage(StoreObjectKind.PathInfo, name, $"its root says size {node.Directory.Size}, directory {digest} has {actual}");
                break;
            }
            case Node.NodeOneofCase.File:
            {
                string? problem = node.File.Size > long.MaxValue
                    ? $"its root says size {node.File.Size}"
                    : await CheckBlobAsync(B3Digest.FromByteString(node.File.Digest), (long)node.File.Size, $"PathInfo {name}", cancellationToken).ConfigureAwait(false);
                if (problem is not null)
                    Damage(StoreObjectKind.PathInfo, name, "root file: " + problem);
                break;
            }
        }
    }

    /// <summary>blobs/ab/abcd… and directories/ab/abcd…: 64 lowercase hex digits below the shard of their first two.</summary>
    private static bool TryDigestOfFileName(string path, out B3Digest digest)
    {
        digest = default;
        string name = Path.GetFileName(path);
        string shard = Path.GetFileName(Path.GetDirectoryName(path)!);
        if (name.Length != 2 * B3Digest.Length || !name.StartsWith(shard, StringComparison.Ordinal) || shard.Length != 2)
            return false;
        Span<byte> bytes = stackalloc byte[B3Digest.Length];
        if (Convert.FromHexString(name, bytes, out _, out int written) != System.Buffers.OperationStatus.Done || written != B3Digest.Length)
            return false;
        digest = B3Digest.FromBytes(bytes);
        return digest.ToHex() == name;
    }
}
