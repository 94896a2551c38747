namespace TvixLowFs.Store.Services;

/// <summary>
/// A PathInfo service that substitutes a missing path from elsewhere (a Nix binary cache): a get
/// may download and ingest a whole NAR, so callers give it a longer deadline, and its upstream can
/// be probed without asking for a path.
/// </summary>
public interface ISubstitutingPathInfoService : IPathInfoService
{
    /// <summary>Throws <see cref="StoreUnavailableException"/> when the upstream cannot be reached.</summary>
    Task CheckReachableAsync(CancellationToken cancellationToken = default);
}
