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
    /// Kernel passthrough for files whose blob is a local file (the embedded store, the
    /// read-through cache): opens hand the kernel the blob file and reads never reach us. The same
    /// object goes to <see cref="TvixLowFs.Fuse.FuseMountOptions.BackingFiles"/>. Null: every read
    /// is answered here (spliced from the blob file when it is local).
    /// </summary>
    public TvixLowFs.Fuse.IFuseBackingFiles? BackingFiles { get; init; }

    /// <summary>
    /// The store answers from this machine (memory://, local://): a miss (a Directory not read
    /// yet, a blob not opened yet) is fetched on the FUSE thread that needs it, like a kernel
    /// filesystem reads its disk, instead of handing it to the thread pool and answering from
    /// there. Never for a remote store: a FUSE thread must not wait on the network.
    /// </summary>
    public bool AnswerMissesInline { get; init; }

    /// <summary>
    /// Tree readahead: the first open of a file in a directory starts opening, in the background,
    /// the files that come after it in a depth-first walk in listing order (that directory's later
    /// files and its subdirectories', then what follows it in the parents), this many at once (0: off), and starts reading each local
    /// one into the page cache. A program that reads a tree file by file (tar, cp -r, a compiler over
    /// a source tree) then finds its next files opened and on their way, instead of waiting for one
    /// small disk or network read after another. A walk that only lists and stats (find, ls -l)
    /// opens nothing and triggers nothing. Each directory is walked once; a walk that runs out of
    /// its window is continued from where it stopped once the reader is halfway there.
    /// </summary>
    public int ReadaheadConcurrency { get; init; } = 8;

    /// <summary>Files larger than this are not read ahead (sequential readahead serves them once opened).</summary>
    public long ReadaheadMaxFileBytes { get; init; } = 1L << 20;

    /// <summary>How many files one tree readahead walk starts at most.</summary>
    public int ReadaheadWindowFiles { get; init; } = 256;

    /// <summary>How many bytes of files one tree readahead walk starts reading at most.</summary>
    public long ReadaheadWindowBytes { get; init; } = 32L << 20;

    /// <summary>How long one backend call (Directory, PathInfo, blob open) may take before the request gets EIO.</summary>
    public TimeSpan BackendTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long a lookup at the root may wait for its PathInfo; null: <see cref="BackendTimeout"/>.
    /// A binary cache answers a lookup only once the path's whole NAR is ingested, which for a large
    /// path takes longer than any one call should.
    /// </summary>
    public TimeSpan? PathInfoTimeout { get; init; }

    /// <summary>The lookup deadline for a PathInfo service that substitutes from a binary cache.</summary>
    public static TimeSpan SubstitutionTimeout { get; } = TimeSpan.FromMinutes(30);
}
