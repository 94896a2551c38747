namespace TvixLowFs.Bench.BinaryCache;

/// <summary>The timed comparisons; every sample is wall-clock seconds (CPU seconds under the "… CPU" systems).</summary>
internal enum BinaryCacheMetric
{
    /// <summary>The closure from the xz cache: `tvixlowfs copy` vs `nix copy`, each followed by sync.</summary>
    CopyXz,
    /// <summary>The same from the zstd cache.</summary>
    CopyZstd,
    /// <summary>One big uncompressed NAR: `tvixlowfs copy` from the compression=none cache vs `nix-store --restore`.</summary>
    Ingest,
    /// <summary>Spawn of `tvixlowfs mount` → `head -c1` of small.txt returns, vs curl | xz -d of that one NAR.</summary>
    FirstByteXz,
    /// <summary>The same with zstd.</summary>
    FirstByteZstd,
    /// <summary>`nix copy --to http://&lt;nar-bridge&gt;?compression=none` of the closure vs `nix copy --to file://DIR?compression=none` (issue 13).</summary>
    PushNarBridge,
    /// <summary>`nix copy --from http://&lt;nar-bridge&gt;` of the closure vs `nix copy --from` the compression=none file cache on a static server (issue 13).</summary>
    PullNarBridge,
}
