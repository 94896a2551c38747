using PathInfo = TvixLowFs.Protos.Store.PathInfo;
using StorePath = TvixLowFs.Store.Model.StorePath;

namespace TvixLowFs.Store.Services;

/// <summary>
/// The rule every PathInfo service keeps on put: a store path, once registered, never changes. A
/// put whose root node equals the stored one is accepted and answers the stored PathInfo (the first
/// write wins, as adding a valid path is a no-op in Nix); any other root node is refused.
/// </summary>
public static class PathInfoImmutability
{
    /// <summary>
    /// Returns <paramref name="stored"/> when <paramref name="incoming"/> names the same root node;
    /// throws <see cref="StorePathConflictException"/> naming the store path otherwise.
    /// </summary>
    public static PathInfo Admit(PathInfo stored, PathInfo incoming, StorePath storePath)
    {
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(incoming);
        if (!Equals(stored.Node, incoming.Node))
            throw new StorePathConflictException(
                $"{storePath.Basename} is already registered with another root node; store paths are immutable");
        return stored;
    }
}
