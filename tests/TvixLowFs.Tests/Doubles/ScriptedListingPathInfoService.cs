using System.Runtime.CompilerServices;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Test double of a PathInfoService whose listing is a script (a backend that stalls, fails
/// midway or drips invalid PathInfos, which no real store does on purpose); lookups go to a
/// real store. Counts the PathInfos the listing has handed out.
/// </summary>
internal sealed class ScriptedListingPathInfoService(IPathInfoService inner, Func<CancellationToken, IAsyncEnumerable<PathInfo>> listing) : IPathInfoService
{
    private int _listed;

    /// <summary>PathInfos the listing has yielded so far.</summary>
    public int Listed => Volatile.Read(ref _listed);

    public ValueTask<PathInfo?> GetAsync(StorePathHash hash, CancellationToken cancellationToken = default) => inner.GetAsync(hash, cancellationToken);

    public ValueTask<PathInfo> PutAsync(PathInfo pathInfo, CancellationToken cancellationToken = default) => inner.PutAsync(pathInfo, cancellationToken);

    public async IAsyncEnumerable<PathInfo> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (PathInfo pathInfo in listing(cancellationToken).WithCancellation(cancellationToken))
        {
            Interlocked.Increment(ref _listed);
            yield return pathInfo;
        }
    }

    public ValueTask<NarHash> CalculateNarAsync(Node node, CancellationToken cancellationToken = default) => inner.CalculateNarAsync(node, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
