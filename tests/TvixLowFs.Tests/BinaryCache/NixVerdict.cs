namespace TvixLowFs.Tests.BinaryCache;

/// <summary>What real Nix 2.8 does when it substitutes a hostile cache's target path.</summary>
internal enum NixVerdict
{
    /// <summary><c>nix copy --from</c> exits non-zero.</summary>
    Refuses,

    /// <summary><c>nix copy --from</c> succeeds (ours is stricter, e.g. it caps a narinfo's size).</summary>
    Accepts,

    /// <summary><c>nix copy --from</c> never finishes (ours must fail instead).</summary>
    Hangs,
}
