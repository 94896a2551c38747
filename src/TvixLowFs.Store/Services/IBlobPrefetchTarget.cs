using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Services;

/// <summary>A blob service that can fetch a blob ahead of its first open (a read-through cache).</summary>
public interface IBlobPrefetchTarget
{
    /// <summary>
    /// Completes once the blob is held locally (fetched and verified now, or already there);
    /// throws like an open would. Cancelling stops the wait, not a fetch others may share.
    /// </summary>
    Task PrefetchAsync(B3Digest digest, CancellationToken cancellationToken);

    /// <summary>
    /// Fetches the blobs not held yet, as few calls as the remote allows (batches of
    /// <see cref="CachingBlobService.MaxBatchBlobs"/> when it streams many blobs per call, else a
    /// few single fetches at once); an open of one of them meanwhile waits for this fetch. Never
    /// throws for a blob: returns how many of those it fetched are not held (missing, corrupt,
    /// unreachable), which their opens then report. Cancelling stops the wait. Meant for digests
    /// the caller has just found not held (<see cref="IsHeld"/>): it does not look at the disk
    /// again, so a blob held there but not known to this process yet is fetched once more.
    /// </summary>
    Task<int> PrefetchManyAsync(IReadOnlyList<B3Digest> digests, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the blob is held locally now (verified, named or about to be), so an open of it reads
    /// a local file and never waits on the remote. A cheap check (a lookup, and a stat only the first time this process asks about a blob it holds or whenever it does not).
    /// </summary>
    bool IsHeld(B3Digest digest);
}
