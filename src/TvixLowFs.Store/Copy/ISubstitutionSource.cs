using TvixLowFs.Protos.Store;
using StorePath = TvixLowFs.Store.Model.StorePath;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Copy;

/// <summary>
/// Where <see cref="ClosureCopier"/> takes store paths from: it looks a path up (learning its
/// references, so the closure can be walked before anything is copied) and later copies it into
/// the destination, which registers its PathInfo.
/// </summary>
public interface ISubstitutionSource : IAsyncDisposable
{
    /// <summary>The path's metadata, or null when the source does not have it.</summary>
    Task<SubstitutionCandidate?> LookUpAsync(StorePathHash hash, CancellationToken cancellationToken);

    /// <summary>Copies the path's contents into the destination services and puts its PathInfo there last.</summary>
    Task<PathInfo> CopyAsync(SubstitutionCandidate candidate, CancellationToken cancellationToken);

    /// <summary>Bytes received from the source so far (compressed, as transferred), for progress lines.</summary>
    long BytesReceived { get; }
}

/// <summary>A path a source has: its name, what it refers to, its NAR size, and what the source needs to copy it.</summary>
public sealed record SubstitutionCandidate(StorePath StorePath, IReadOnlyList<StorePathHash> References, ulong NarSize, object SourceState);
