namespace TvixLowFs.Filesystem;

/// <summary>How the store filesystem presents the store.</summary>
public sealed class StoreFilesystemOptions
{
    /// <summary>Allow listing the root (every PathInfo, streamed). Off: readdir of the root is EPERM.</summary>
    public bool ListRoot { get; init; }

    /// <summary>Expose the castore digests as <c>user.tvix.castore.*</c> extended attributes.</summary>
    public bool ShowXattr { get; init; }

    /// <summary>
    /// Entry and attribute timeout given to the kernel. Content never changes under a digest, so this
    /// is "forever"; 1e9 s (≈31 years) because libfuse and the kernel turn larger values into
    /// overflowing jiffies.
    /// </summary>
    public double CacheTimeoutSeconds { get; init; } = 1e9;

    /// <summary>
    /// Blobs with a local file keep their descriptor open while the kernel knows the inode. Beyond
    /// this many, a blob's descriptor is closed when its last open file is released, so a walk
    /// over a large tree stays within the process's descriptor limit.
    /// </summary>
    public int MaxIdleLocalBlobs { get; init; } = 1024;

    /// <summary>
    /// At unmount, how long requests still waiting on the backend may take to be answered before
    /// their late replies are dropped (libfuse frees the session right after).
    /// </summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Inodes the kernel has forgotten stay in the table (number, entries) until this many more
    /// recent ones have been forgotten, so a walk that comes back finds them; then they are dropped,
    /// and the same content looked up again gets a new number. 0 drops them at once.
    /// </summary>
    public int ForgottenInodes { get; init; } = 4096;

    /// <summary>
    /// When a store path whose root is a directory is first looked up, its Directory closure is
    /// fetched in the background with one streaming call, up to this many directories (0: off)...
    /// </summary>
    public int PrefetchMaxDirectories { get; init; } = 4096;

    /// <summary>... and up to this many bytes of Directory messages.</summary>
    public long PrefetchMaxBytes { get; init; } = 16L << 20;

    /// <summary>Prefetches running at once; a store path looked up while all are busy is not prefetched.</summary>
    public int PrefetchConcurrency { get; init; } = 2;

    /// <summary>
    /// When a directory is opened (listed) over a store that caches blobs locally, the blobs of its
    /// files up to this size are fetched into the cache in the background, in listing order, so
    /// that reading them one after another (tar, cp -r) does not wait a round trip per file (0: off).
    /// </summary>
    public long PrefetchBlobMaxSize { get; init; } = 64 * 1024;

    /// <summary>Blob prefetches in flight at once.</summary>
    public int PrefetchBlobConcurrency { get; init; } = 4;

    /// <summary>How long one backend call (Directory, PathInfo, blob open) may take before the request gets EIO.</summary>
    public TimeSpan BackendTimeout { get; init; } = TimeSpan.FromSeconds(60);
}
