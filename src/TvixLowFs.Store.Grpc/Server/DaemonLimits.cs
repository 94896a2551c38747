using TvixLowFs.Store.Nar;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// The bounds the daemon keeps on what one client may make it hold or do. Each is a
/// <c>tvixlowfs daemon</c> option of the same name (<c>--max-blob-bytes</c> …); a request past one
/// is answered RESOURCE_EXHAUSTED (INVALID_ARGUMENT for the digest count of a batch, as the
/// protocol says) with a message naming the limit, and nothing of it is stored.
/// </summary>
public sealed record DaemonLimits
{
    /// <summary>Bytes one blob Put may carry (max-blob-bytes). Above any file a store path holds in practice.</summary>
    public long MaxBlobBytes { get; init; } = 16L << 30;

    /// <summary>
    /// Bytes of one gRPC message either way (max-message-bytes): a blob chunk, a Directory, a
    /// PathInfo. Our clients send 256 KiB chunks; tvix and snix stay within gRPC's 4 MiB default.
    /// </summary>
    public int MaxMessageBytes { get; init; } = 16 << 20;

    /// <summary>
    /// How long a Put stream may go without a message (stream-idle-timeout): a client that opens
    /// streams and sends nothing holds them no longer than this. Our clients give up after 10 s. The
    /// same bound ends a response stream whose client takes no message (<see cref="ResponseStallTimer"/>).
    /// </summary>
    public TimeSpan StreamIdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Bytes per second, averaged once <see cref="DataRateGrace"/> has passed (min-data-rate; 0 turns
    /// the check off): a Put stream that trickles slower is refused by the daemon itself
    /// (<see cref="StreamIdleTimer"/>); Kestrel judges responses by it too, but not a client that
    /// stops reading (flow control stalls first): <see cref="StreamIdleTimeout"/> bounds that. Kestrel's own default.
    /// </summary>
    public double MinDataRate { get; init; } = 240;

    /// <summary>How long a transfer may start slowly before <see cref="MinDataRate"/> applies.</summary>
    public static TimeSpan DataRateGrace { get; } = TimeSpan.FromSeconds(10);

    /// <summary>Blob and Directory Put streams open at once, daemon-wide (max-concurrent-puts); each may hold a temp file.</summary>
    public int MaxConcurrentPuts { get; init; } = 64;

    /// <summary>HTTP/2 streams (calls) open at once on one connection (max-streams-per-connection); more wait in the client.</summary>
    public int MaxStreamsPerConnection { get; init; } = 128;

    /// <summary>Connections open at once (max-connections); one more is closed as it arrives.</summary>
    public long MaxConnections { get; init; } = 256;

    /// <summary>Entries (directories, files, symlinks) of one Directory message (max-directory-entries).</summary>
    public int MaxDirectoryEntries { get; init; } = 100_000;

    /// <summary>
    /// Entries of all the Directory messages of one Put stream, plus one per message
    /// (max-directory-graph-entries): what the daemon holds while it validates a graph before storing it.
    /// </summary>
    public long MaxDirectoryGraphEntries { get; init; } = 1_000_000;

    /// <summary>References of one PathInfo (max-references).</summary>
    public int MaxReferences { get; init; } = 20_000;

    /// <summary>Signatures of one PathInfo (max-signatures).</summary>
    public int MaxSignatures { get; init; } = 64;

    /// <summary>Entries one CalculateNAR walks, shared directories counted each time (max-nar-entries).</summary>
    public long MaxNarEntries { get; init; } = NarCalculator.DefaultMaxEntries;

    /// <summary>Digests one BlobBatchService.ReadBlobs call may name (fixed by the protocol).</summary>
    public static int MaxBatchDigests => BlobBatchEndpoint.MaxDigests;

    public static DaemonLimits Default { get; } = new();

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first limit that is not positive.</summary>
    public void Check()
    {
        if (MaxBlobBytes <= 0) throw new ArgumentOutOfRangeException(nameof(MaxBlobBytes), "max-blob-bytes must be positive");
        if (MaxMessageBytes < 64 * 1024) throw new ArgumentOutOfRangeException(nameof(MaxMessageBytes), "max-message-bytes must be at least 65536");
        if (StreamIdleTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(StreamIdleTimeout), "stream-idle-timeout must be positive");
        if (MinDataRate < 0 || !double.IsFinite(MinDataRate)) throw new ArgumentOutOfRangeException(nameof(MinDataRate), "min-data-rate must be 0 or more");
        if (MaxConcurrentPuts <= 0) throw new ArgumentOutOfRangeException(nameof(MaxConcurrentPuts), "max-concurrent-puts must be positive");
        if (MaxStreamsPerConnection <= 0) throw new ArgumentOutOfRangeException(nameof(MaxStreamsPerConnection), "max-streams-per-connection must be positive");
        if (MaxConnections <= 0) throw new ArgumentOutOfRangeException(nameof(MaxConnections), "max-connections must be positive");
        if (MaxDirectoryEntries <= 0) throw new ArgumentOutOfRangeException(nameof(MaxDirectoryEntries), "max-directory-entries must be positive");
        if (MaxDirectoryGraphEntries <= 0) throw new ArgumentOutOfRangeException(nameof(MaxDirectoryGraphEntries), "max-directory-graph-entries must be positive");
        if (MaxReferences < 0) throw new ArgumentOutOfRangeException(nameof(MaxReferences), "max-references must be 0 or more");
        if (MaxSignatures < 0) throw new ArgumentOutOfRangeException(nameof(MaxSignatures), "max-signatures must be 0 or more");
        if (MaxNarEntries <= 0) throw new ArgumentOutOfRangeException(nameof(MaxNarEntries), "max-nar-entries must be positive");
    }
}
