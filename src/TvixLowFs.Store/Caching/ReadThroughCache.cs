using TvixLowFs.Store.Local;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Caching;

/// <summary>
/// The mount's local read-through cache: a <c>local://</c> store directory in front of the blob and
/// directory services that are not on this machine (a daemon, or a bucket read directly). PathInfos
/// are not cached (a path may appear remotely later).
/// </summary>
public static class ReadThroughCache
{
    /// <summary><c>$XDG_CACHE_HOME/tvixlowfs</c>, else <c>~/.cache/tvixlowfs</c>.</summary>
    public static string DefaultDirectory()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string baseDirectory = !string.IsNullOrEmpty(xdg) && Path.IsPathFullyQualified(xdg)
            ? xdg
            : Path.Join(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Join(baseDirectory, "tvixlowfs");
    }

    /// <summary>
    /// Puts the cache at <paramref name="cacheDirectory"/> in front of whichever of the blob and
    /// directory services is not on this machine; returns <paramref name="store"/> itself when both are.
    /// </summary>
    public static StoreServices Wrap(StoreServices store, string cacheDirectory, StoreAddress blobAddress, StoreAddress directoryAddress)
    {
        bool blobs = !blobAddress.IsOnThisMachine, directories = !directoryAddress.IsOnThisMachine;
        if (!blobs && !directories)
            return store;
        var cache = LocalStore.Open(Path.GetFullPath(cacheDirectory));
        return new StoreServices(
            blobs ? new CachingBlobService(store.Blobs, new LocalBlobService(cache)) : store.Blobs,
            directories ? new CachingDirectoryService(store.Directories, new LocalDirectoryService(cache)) : store.Directories,
            store.PathInfos);
    }
}
