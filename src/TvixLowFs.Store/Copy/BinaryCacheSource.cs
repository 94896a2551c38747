using TvixLowFs.Protos.Store;
using StorePath = TvixLowFs.Store.Model.StorePath;
using TvixLowFs.Store.BinaryCache;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Copy;

/// <summary>
/// A Nix binary cache as a copy source: narinfos are fetched and trusted by the
/// <see cref="NixHttpPathInfoService"/>, whose NARs are ingested into the destination's blob and
/// directory services and whose PathInfos are put into the destination's PathInfo service.
/// </summary>
public sealed class BinaryCacheSource(NixHttpPathInfoService cache) : ISubstitutionSource
{
    public long BytesReceived => cache.BytesDownloaded;

    public async Task<SubstitutionCandidate?> LookUpAsync(StorePathHash hash, CancellationToken cancellationToken)
    {
        TrustedNarInfo? trusted = await cache.GetNarInfoAsync(hash, cancellationToken).ConfigureAwait(false);
        return trusted is not { NarInfo: var narInfo } ? null
            : new SubstitutionCandidate(narInfo.StorePath, narInfo.References.Select(r => r.Hash).ToArray(), narInfo.NarSize, trusted);
    }

    public Task<PathInfo> CopyAsync(SubstitutionCandidate candidate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        return cache.SubstituteAsync((TrustedNarInfo)candidate.SourceState, cancellationToken);
    }

    public ValueTask DisposeAsync() => cache.DisposeAsync();
}
