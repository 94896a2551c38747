using TvixLowFs.Protos.Store;

namespace TvixLowFs.Store.Model;

/// <summary>The rules of a valid PathInfo (shared/PROTOCOL.md).</summary>
public static class PathInfoRules
{
    /// <summary>
    /// Node set and valid, its name a valid store path basename, references 20 bytes each,
    /// nar_sha256 32 bytes when narinfo is set. Returns the store path the node names.
    /// Throws <see cref="StoreValidationException"/>.
    /// </summary>
    public static StorePath Validate(PathInfo pathInfo) => throw new NotImplementedException();
}
