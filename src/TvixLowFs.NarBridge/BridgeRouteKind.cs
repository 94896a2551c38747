namespace TvixLowFs.NarBridge;

/// <summary>What a request path names.</summary>
public enum BridgeRouteKind
{
    /// <summary>Nothing this server has: 404.</summary>
    Unknown,
    /// <summary><c>/nix-cache-info</c>.</summary>
    CacheInfo,
    /// <summary><c>/&lt;hash&gt;.narinfo</c>.</summary>
    NarInfo,
    /// <summary><c>/&lt;hash&gt;.ls</c> (a NAR listing Nix writes with <c>write-nar-listing</c>).</summary>
    NarListing,
    /// <summary><c>/nar/&lt;store path hash&gt;-&lt;NarHash&gt;.nar</c>: a NAR this server renders from the store.</summary>
    RenderedNar,
    /// <summary><c>/nar/&lt;file hash&gt;.nar[.xz|.zst|.bz2|.br]</c>: where <c>nix copy --to</c> uploads a NAR.</summary>
    UploadedNar,
}
