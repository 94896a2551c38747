using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Test doubles of a backend that never answers and ignores cancellation (a hung remote store):
/// a blob open, or the PathInfo of one store path, waits for good; everything else is the real
/// store they wrap. Only the mount's own give-up can end a request waiting on them.
/// </summary>
internal static class NeverAnswering
{
    /// <summary>A task that never completes, whatever token the caller passes.</summary>
    public static Task<T> Forever<T>() => new TaskCompletionSource<T>().Task;
}

internal sealed class NeverAnsweringBlobService(IBlobService inner) : IBlobService
{
    /// <summary>Set when the first open reaches the backend.</summary>
    public ManualResetEventSlim Entered { get; } = new(false);

    public ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default) => inner.StatAsync(digest, cancellationToken);

    public ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        Entered.Set();
        return new ValueTask<BlobReader?>(NeverAnswering.Forever<BlobReader?>());
    }

    public BlobWriter OpenWrite() => inner.OpenWrite();

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

internal sealed class NeverAnsweringPathInfoService(IPathInfoService inner, StorePathHash silenced) : IPathInfoService
{
    /// <summary>Set when the silenced store path is first asked for.</summary>
    public ManualResetEventSlim Entered { get; } = new(false);

    public ValueTask<PathInfo?> GetAsync(StorePathHash hash, CancellationToken cancellationToken = default)
    {
        if (hash != silenced)
            return inner.GetAsync(hash, cancellationToken);
        Entered.Set();
        return new ValueTask<PathInfo?>(NeverAnswering.Forever<PathInfo?>());
    }

    public ValueTask<PathInfo> PutAsync(PathInfo pathInfo, CancellationToken cancellationToken = default) => inner.PutAsync(pathInfo, cancellationToken);

    public IAsyncEnumerable<PathInfo> ListAsync(CancellationToken cancellationToken = default) => inner.ListAsync(cancellationToken);

    public ValueTask<NarHash> CalculateNarAsync(Node node, CancellationToken cancellationToken = default) => inner.CalculateNarAsync(node, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>A PathInfo service whose listing never yields its first entry, ignoring cancellation (a hung remote List).</summary>
internal sealed class NeverListingPathInfoService(IPathInfoService inner) : IPathInfoService
{
    /// <summary>Set when the listing is first asked for its next entry.</summary>
    public ManualResetEventSlim Entered { get; } = new(false);

    public ValueTask<PathInfo?> GetAsync(StorePathHash hash, CancellationToken cancellationToken = default) => inner.GetAsync(hash, cancellationToken);

    public ValueTask<PathInfo> PutAsync(PathInfo pathInfo, CancellationToken cancellationToken = default) => inner.PutAsync(pathInfo, cancellationToken);

    public async IAsyncEnumerable<PathInfo> ListAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Entered.Set();
        yield return await NeverAnswering.Forever<PathInfo>().ConfigureAwait(false);
    }

    public ValueTask<NarHash> CalculateNarAsync(Node node, CancellationToken cancellationToken = default) => inner.CalculateNarAsync(node, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
