namespace TvixLowFs.Tests.BinaryCache.Nar;

/// <summary>
/// Real Nix (Debian's nix-bin 2.8) as the independent party: <c>nix-store --dump</c> and <c>nix-hash</c>,
/// each run by <see cref="RealNix"/> (no substituters, our configuration only, a private
/// XDG_CACHE_HOME) in a temporary directory removed afterwards.
/// </summary>
internal static class NixTools
{
    private const int LimitSeconds = 120;

    /// <summary>The NAR Nix makes of <paramref name="path"/>.</summary>
    public static Task<byte[]> DumpAsync(string path) => Task.Run(() => WithNix(nix => nix.Dump(path, LimitSeconds)));

    /// <summary>Nix's own <c>sha256:</c> NAR hash of <paramref name="path"/>, as 52 nixbase32 characters.</summary>
    public static Task<string> HashBase32Async(string path) =>
        Task.Run(() => WithNix(nix => nix.Check(LimitSeconds, "nix-hash", "--type", "sha256", "--base32", path).Trim()));

    /// <summary>Runs a shell script (to make names .NET cannot spell, such as invalid UTF-8).</summary>
    public static Task<byte[]> ShellAsync(string script) =>
        Task.Run(() => ChildProcess.Run("bash", ["-euc", script], timeoutSeconds: LimitSeconds).Succeeded("bash -euc " + script).Stdout);

    private static T WithNix<T>(Func<RealNix, T> run)
    {
        string root = Path.Combine(Path.GetTempPath(), "tvixlowfs-nar-nix-" + Guid.NewGuid().ToString("N"));
        try
        {
            return run(new RealNix(root));
        }
        finally
        {
            if (Directory.Exists(root))
                Directory.Delete(root, recursive: true);
        }
    }
}
