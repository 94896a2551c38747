using System.Runtime.CompilerServices;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>Test double: a directory service that counts Get and GetRecursive calls (and the messages streamed) of a real one.</summary>
internal sealed class CountingDirectoryService(IDirectoryService inner) : IDirectoryService
{
    private int _gets, _recursiveGets, _streamed;

    public int Gets => Volatile.Read(ref _gets);
    public int RecursiveGets => Volatile.Read(ref _recursiveGets);
    public int Streamed => Volatile.Read(ref _streamed);

    /// <summary>When set, GetRecursive fails after streaming this many messages.</summary>
    public int? FailRecursiveAfter { get; set; }

    /// <summary>When set, GetRecursive starts streaming only once this completes (or its call is cancelled).</summary>
    public TaskCompletionSource? RecursiveGate { get; set; }

    /// <summary>
    /// When set, GetRecursive, having streamed this many messages (and its consumer having taken the
    /// last one), completes <see cref="RecursivePaused"/> and goes on once <see cref="RecursiveResume"/> completes.
    /// </summary>
    public int? PauseRecursiveAfter { get; set; }

    public TaskCompletionSource RecursivePaused { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource RecursiveResume { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ValueTask<VerifiedDirectory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _gets);
        return inner.GetAsync(digest, cancellationToken);
    }

    public async IAsyncEnumerable<VerifiedDirectory> GetRecursiveAsync(B3Digest root, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _recursiveGets);
        if (RecursiveGate is { } gate)
            await gate.Task.WaitAsync(cancellationToken);
        int sent = 0;
        await foreach (VerifiedDirectory directory in inner.GetRecursiveAsync(root, cancellationToken))
        {
            if (sent == PauseRecursiveAfter)
            {
                RecursivePaused.TrySetResult();
                await RecursiveResume.Task.WaitAsync(cancellationToken);
            }
            if (sent++ == FailRecursiveAfter)
                throw new StoreUnavailableException("injected failure in GetRecursive");
            Interlocked.Increment(ref _streamed);
            yield return directory;
        }
    }

    public ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default) => inner.PutAsync(directory, cancellationToken);

    public IDirectoryPutter BeginPut() => inner.BeginPut();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>Test double: a PathInfo service that counts Get calls of a real one.</summary>
internal sealed class CountingPathInfoService(IPathInfoService inner) : IPathInfoService
{
    private int _gets;

    public int Gets => Volatile.Read(ref _gets);

    public ValueTask<PathInfo?> GetAsync(StorePathHash hash, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _gets);
        return inner.GetAsync(hash, cancellationToken);
    }

    public ValueTask<PathInfo> PutAsync(PathInfo pathInfo, CancellationToken cancellationToken = default) => inner.PutAsync(pathInfo, cancellationToken);
    public IAsyncEnumerable<PathInfo> ListAsync(CancellationToken cancellationToken = default) => inner.ListAsync(cancellationToken);
    public ValueTask<NarHash> CalculateNarAsync(Node node, CancellationToken cancellationToken = default) => inner.CalculateNarAsync(node, cancellationToken);
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
