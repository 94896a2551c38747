using System.Runtime.CompilerServices;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>
/// Directories in a bucket: each under <c>dirs/</c> as its whole closure (<see cref="DirectoryClosure"/>),
/// written leaves first, so an object exists only once its descendants' do. A get reads the first
/// message (a ranged GET); a recursive get reads the root's closure in one GET. Every message is
/// served only under the digest its bytes hash to.
/// </summary>
public sealed class ObjectStoreDirectoryService(ObjectStoreBucket bucket) : DirectoryServiceBase, IDirectoryService
{
    /// <summary>Enough for the first message of most closures; a bigger one costs a second GET.</summary>
    private const int FirstReadBytes = 64 * 1024;

    public override async ValueTask<VerifiedDirectory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        string key = ObjectKeys.Directory(bucket.Prefix, digest);
        byte[]? head = await bucket.GetPrefixAsync(key, FirstReadBytes, cancellationToken).ConfigureAwait(false);
        if (head is null)
            return null;
        var entries = new List<VerifiedDirectory>(1);
        if (!Decode(digest, key, head, limit: 1, entries) || entries.Count == 0)
        {
            byte[] whole = await bucket.GetAsync(key, cancellationToken).ConfigureAwait(false) ?? throw new StoreNotFoundException($"directory {digest} vanished while it was read");
            entries.Clear();
            if (!Decode(digest, key, whole, limit: 1, entries) || entries.Count == 0)
                throw Corrupt(digest, key, "its framing is broken");
        }
        if (entries[0].Digest != digest)
            throw Corrupt(digest, key, $"its first message hashes to {entries[0].Digest}");
        return entries[0];
    }

    private bool Decode(B3Digest digest, string key, byte[] bytes, int? limit, List<VerifiedDirectory> entries)
    {
        try
        {
            return DirectoryClosure.TryDecode(bytes, limit, entries);
        }
        catch (StoreValidationException e)
        {
            throw Corrupt(digest, key, e.Message);
        }
    }

    /// <summary>One GET for the whole tree; a message missing from the closure is read from its own object.</summary>
    public new async IAsyncEnumerable<VerifiedDirectory> GetRecursiveAsync(B3Digest root, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string key = ObjectKeys.Directory(bucket.Prefix, root);
        byte[] bytes = await bucket.GetAsync(key, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreNotFoundException($"directory {root} not found");
        var entries = new List<VerifiedDirectory>();
        Decode(root, key, bytes, limit: null, entries);
        if (entries.Count == 0 || entries[0].Digest != root)
            throw Corrupt(root, key, entries.Count == 0 ? "its framing is broken" : $"its first message hashes to {entries[0].Digest}");
        var known = new Dictionary<B3Digest, VerifiedDirectory>();
        foreach (VerifiedDirectory entry in entries)
            known.TryAdd(entry.Digest, entry);

        var seen = new HashSet<B3Digest> { root };
        var pending = new Queue<B3Digest>();
        pending.Enqueue(root);
        while (pending.TryDequeue(out B3Digest digest))
        {
            VerifiedDirectory directory = known.GetValueOrDefault(digest)
                ?? await GetAsync(digest, cancellationToken).ConfigureAwait(false)
                ?? throw new StoreNotFoundException($"directory {digest} (below {root}) not found");
            foreach (DirectoryNode child in directory.Message.Directories)
            {
                B3Digest childDigest = B3Digest.FromByteString(child.Digest);
                if (seen.Add(childDigest))
                    pending.Enqueue(childDigest);
            }
            yield return directory;
        }
    }

    protected override async ValueTask<ulong?> StoredSizeAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        VerifiedDirectory? directory = await GetAsync(digest, cancellationToken).ConfigureAwait(false);
        return directory?.Size;
    }

    /// <summary>Directory objects one put uploads at once (all of one height: none refers to another).</summary>
    private const int ParallelPuts = 8;

    /// <summary>
    /// Writes each directory's closure, level by level from the leaves up (height 1 = no child in this
    /// put), the directories of one level in parallel: an object goes up only after its descendants'.
    /// </summary>
    protected override async ValueTask StoreAsync(IReadOnlyList<VerifiedDirectory> directories, CancellationToken cancellationToken)
    {
        var known = new Dictionary<B3Digest, VerifiedDirectory>();
        var heights = new Dictionary<B3Digest, int>();
        var levels = new List<List<(B3Digest Digest, byte[] Closure)>>();
        foreach (VerifiedDirectory directory in directories)
        {
            int height = 1;
            // Children stored earlier (not in this put): their closures complete this one's.
            foreach (DirectoryNode child in directory.Message.Directories)
            {
                B3Digest childDigest = B3Digest.FromByteString(child.Digest);
                if (heights.TryGetValue(childDigest, out int childHeight))
                    height = Math.Max(height, childHeight + 1);
                else if (!known.ContainsKey(childDigest))
                    await AddStoredClosureAsync(childDigest, known, cancellationToken).ConfigureAwait(false);
            }
            heights[directory.Digest] = height;
            known.TryAdd(directory.Digest, directory);
            while (levels.Count < height)
                levels.Add([]);
            levels[height - 1].Add((directory.Digest, DirectoryClosure.Encode(directory.Digest, known)));
        }
        var options = new ParallelOptions { MaxDegreeOfParallelism = ParallelPuts, CancellationToken = cancellationToken };
        foreach (List<(B3Digest Digest, byte[] Closure)> level in levels)
        {
            await Parallel.ForEachAsync(level, options, async (directory, token) =>
                await bucket.PutAsync(ObjectKeys.Directory(bucket.Prefix, directory.Digest), directory.Closure, token).ConfigureAwait(false)).ConfigureAwait(false);
        }
    }

    private async ValueTask AddStoredClosureAsync(B3Digest digest, Dictionary<B3Digest, VerifiedDirectory> known, CancellationToken cancellationToken)
    {
        await foreach (VerifiedDirectory directory in GetRecursiveAsync(digest, cancellationToken).ConfigureAwait(false))
            known.TryAdd(directory.Digest, directory);
    }

    private StoreUnavailableException Corrupt(B3Digest digest, string key, string reason) =>
        new($"directory {digest} in store '{bucket.Name}' is not served: {key} is corrupt ({reason})");

    public override async ValueTask DisposeAsync()
    {
        bucket.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
