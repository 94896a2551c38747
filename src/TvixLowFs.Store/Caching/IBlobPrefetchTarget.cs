using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Caching;

/// <summary>A blob service that can fetch a blob ahead of its first open (a read-through cache).</summary>
public interface IBlobPrefetchTarget
{
    /// <summary>
    /// Completes once the blob is held locally (fetched and verified now, or already there);
    /// throws like an open would. Cancelling stops the wait, not a fetch others may share.
    /// </summary>
    Task PrefetchAsync(B3Digest digest, CancellationToken cancellationToken);
}
