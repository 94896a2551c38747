using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Caching;

/// <summary>
/// Directories read through a local store. A local store only keeps a directory whose children
/// it has, so a miss fetches the whole subtree in one recursive call and stores it leaves
/// first (each message verified by the local store's put); later lookups below it are local.
/// A subtree with a directory missing remotely is served uncached. Writes go to the remote.
/// </summary>
public sealed class CachingDirectoryService(IDirectoryService remote, IDirectoryService local) : IDirectoryService
{
    private readonly ConcurrentDictionary<B3Digest, Lazy<Task<FillResult>>> _fills = new();

    public IDirectoryService Remote { get; } = remote;
    public IDirectoryService Local { get; } = local;

    private enum FillResult { Stored, Absent, Incomplete }

    public async ValueTask<Directory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        var cached = await Local.GetAsync(digest, cancellationToken).ConfigureAwait(false);
        if (cached is not null)
            return cached;
        return await FillAsync(digest, cancellationToken).ConfigureAwait(false) switch
        {
            FillResult.Absent => null,
            FillResult.Stored => await Local.GetAsync(digest, cancellationToken).ConfigureAwait(false)
                ?? await Remote.GetAsync(digest, cancellationToken).ConfigureAwait(false),
            _ => await Remote.GetAsync(digest, cancellationToken).ConfigureAwait(false),
        };
    }

    public async IAsyncEnumerable<Directory> GetRecursiveAsync(B3Digest root, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        bool local = await Local.GetAsync(root, cancellationToken).ConfigureAwait(false) is not null
            || await FillAsync(root, cancellationToken).ConfigureAwait(false) == FillResult.Stored;
        var source = local ? Local : Remote;
        await foreach (var directory in source.GetRecursiveAsync(root, cancellationToken).ConfigureAwait(false))
            yield return directory;
    }

    public ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default) =>
        Remote.PutAsync(directory, cancellationToken);

    public IDirectoryPutter BeginPut() => Remote.BeginPut();

    private async Task<FillResult> FillAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        var fill = _fills.GetOrAdd(digest, d => new Lazy<Task<FillResult>>(() => FetchAndForgetAsync(d)));
        return await fill.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<FillResult> FetchAndForgetAsync(B3Digest digest)
    {
        try
        {
            return await FetchAsync(digest).ConfigureAwait(false);
        }
        finally
        {
            // A failed fetch is retried by the next reader; a finished one is now local.
            _fills.TryRemove(digest, out _);
        }
    }

    private async Task<FillResult> FetchAsync(B3Digest root)
    {
        await Task.Yield();
        var received = new Dictionary<B3Digest, Directory>();
        try
        {
            await foreach (var directory in Remote.GetRecursiveAsync(root).ConfigureAwait(false))
                received.TryAdd(DirectoryRules.Digest(directory), directory);
        }
        catch (StoreNotFoundException)
        {
            return received.Count == 0 ? FillResult.Absent : FillResult.Incomplete;
        }
        if (!received.ContainsKey(root))
            return FillResult.Absent;
        await using var putter = Local.BeginPut();
        foreach (var directory in LeavesFirst(root, received))
            await putter.PutAsync(directory).ConfigureAwait(false);
        var stored = await putter.CloseAsync().ConfigureAwait(false);
        if (stored != root)
            throw new StoreValidationException($"directory {root}: the cache stored it as {stored}");
        return FillResult.Stored;
    }

    /// <summary>
    /// Every directory after all of its children (post-order from the root, each once). Reversing the
    /// breadth-first order is not enough: a shared child may sit deeper under one parent than another.
    /// </summary>
    private static List<Directory> LeavesFirst(B3Digest root, Dictionary<B3Digest, Directory> graph)
    {
        var order = new List<Directory>(graph.Count);
        var done = new HashSet<B3Digest>();
        var stack = new Stack<(B3Digest Digest, int NextChild)>();
        stack.Push((root, 0));
        done.Add(root);
        while (stack.TryPop(out var frame))
        {
            var directory = graph[frame.Digest];
            if (frame.NextChild < directory.Directories.Count)
            {
                stack.Push((frame.Digest, frame.NextChild + 1));
                var child = B3Digest.FromByteString(directory.Directories[frame.NextChild].Digest);
                if (graph.ContainsKey(child) && done.Add(child))
                    stack.Push((child, 0));
                continue;
            }
            order.Add(directory);
        }
        return order;
    }

    public async ValueTask DisposeAsync()
    {
        await Remote.DisposeAsync().ConfigureAwait(false);
        await Local.DisposeAsync().ConfigureAwait(false);
    }
}
