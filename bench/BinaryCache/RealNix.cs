using TvixLowFs.Bench.E2e;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// Calls of real Nix (Debian's nix-bin 2.8): every one without substituters (there is no
/// network, and nothing may come from anywhere but the cache under test), with the new CLI
/// enabled, without build users (root, no nixbld group) and with its own XDG_CACHE_HOME, so
/// no call answers from another's narinfo disk cache.
/// </summary>
internal static class RealNix
{
    public static readonly string[] CommonOptions =
    [
        "--extra-experimental-features", "nix-command",
        "--option", "substituters", "",
        "--option", "build-users-group", "",
    ];

    public static IReadOnlyDictionary<string, string> Environment(string cacheHome) =>
        new Dictionary<string, string> { ["XDG_CACHE_HOME"] = cacheHome };

    /// <summary>Runs nix, nix-store, nix-build or nix-hash with the common options before the given ones.</summary>
    public static CommandResult Run(string tool, string cacheHome, IEnumerable<string> arguments, TimeSpan? timeout = null) =>
        ExternalCommand.Run(tool, [.. CommonOptions, .. arguments], Environment(cacheHome), timeout);

    /// <summary>The version line, for the report ("nix (Nix) 2.8.0"), or null when Nix is missing.</summary>
    public static string? Version()
    {
        if (!ExternalCommand.OnPath("nix")) return null;
        var result = ExternalCommand.Run("nix", ["--version"], timeout: TimeSpan.FromSeconds(30));
        return result.ExitCode == 0 ? result.StandardOutput.Trim() : null;
    }
}
