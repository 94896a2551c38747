using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Memory;

/// <summary>
/// <c>memory://</c> PathInfos, kept as the bytes that were put so a get returns exactly them; the first
/// put of a store path stays (<see cref="PathInfoImmutability"/>).
/// </summary>
public sealed class MemoryPathInfoService(NarCalculator narCalculator) : IPathInfoService
{
    private readonly ConcurrentDictionary<StorePathHash, byte[]> _pathInfos = new();

    public ValueTask<PathInfo?> GetAsync(StorePathHash hash, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_pathInfos.TryGetValue(hash, out byte[]? bytes) ? PathInfo.Parser.ParseFrom(bytes) : null);

    public ValueTask<PathInfo> PutAsync(PathInfo pathInfo, CancellationToken cancellationToken = default)
    {
        Model.StorePath storePath = PathInfoRules.Validate(pathInfo);
        byte[] bytes = pathInfo.ToByteArray();
        byte[] stored = _pathInfos.GetOrAdd(storePath.Hash, bytes);
        PathInfo kept = PathInfo.Parser.ParseFrom(stored);
        return ValueTask.FromResult(ReferenceEquals(stored, bytes) ? kept : PathInfoImmutability.Admit(kept, pathInfo, storePath));
    }

    public async IAsyncEnumerable<PathInfo> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (KeyValuePair<StorePathHash, byte[]> entry in _pathInfos)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return PathInfo.Parser.ParseFrom(entry.Value);
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    public ValueTask<NarHash> CalculateNarAsync(Node node, CancellationToken cancellationToken = default) =>
        narCalculator.CalculateAsync(node, cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
