using TvixLowFs.Bench.E2e;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// `dotnet run -c Release --project bench -- binary-cache [options]`: issue 12's performance
/// targets, substitution from Nix binary caches measured against real Nix 2.8 in the same run
/// (`tvixlowfs copy` vs `nix copy`, NAR ingestion vs `nix-store --restore`, mount → first byte vs
/// curl | xz -d). Returns 0 when every measured command succeeded and verified, 1 otherwise, 2 for a bad command line.
/// </summary>
public static class BinaryCacheBenchmark
{
    public static int Run(string[] args) =>
        BenchmarkEntry.Run("binary-cache", BinaryCacheOptions.Usage, () => BinaryCacheOptions.Parse(args), o => o.ShowHelp, o => new BinaryCacheRun(o).Execute());

    internal static void Log(string message) => Console.Error.WriteLine($"binary-cache {DateTime.UtcNow:HH:mm:ss}: {message}");
}
