using TvixLowFs.Store.Model.BinaryCache;

namespace TvixLowFs.NarBridge;

/// <summary>What a nar-bridge serves and accepts. The defaults are what <c>tvixlowfs nar-bridge</c> uses.</summary>
public sealed class NarBridgeOptions
{
    public const string DefaultListenAddress = "[::1]:9000";

    /// <summary>The <c>Priority</c> of nix-cache-info (lower is preferred; 39 as snix's nar-bridge, ahead of cache.nixos.org's 40).</summary>
    public int Priority { get; init; } = 39;

    /// <summary>When set, every narinfo served carries one more <c>Sig</c>, made with this key.</summary>
    public NixSecretKey? SigningKey { get; init; }

    /// <summary>Accept <c>nix copy --to</c> (PUT); without it every PUT is 403.</summary>
    public bool Writable { get; init; }

    /// <summary>
    /// The largest upload body (a NAR as sent, compressed or not) and the largest NAR it may
    /// decompress to. 64 GiB: far above any real store path, small enough that a hostile client
    /// cannot fill a disk through one request.
    /// </summary>
    public long MaxUploadBytes { get; init; } = 64L << 30;

    /// <summary>The longest an upload may send nothing before it is refused (408) and dropped.</summary>
    public TimeSpan UploadStallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many uploaded NARs are remembered, awaiting their narinfo (oldest forgotten first).</summary>
    public int ReceivedNarCapacity { get; init; } = 100_000;

    /// <summary>How long an uploaded NAR is remembered, awaiting its narinfo.</summary>
    public TimeSpan ReceivedNarLifetime { get; init; } = TimeSpan.FromHours(6);

    /// <summary>How long in-flight requests get to finish on stop before they are cancelled.</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(5);
}
