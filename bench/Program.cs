using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace TvixLowFs.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench</c> runs the whole micro suite; any BenchmarkDotNet
/// arguments (<c>--filter '*Nix*'</c>, <c>--job short</c>, <c>--list flat</c>) select and shape it.
/// <c>nar-ingest</c> as the first argument runs NAR ingestion against <c>nix-store --restore</c> (bench/Nar, <c>nar-ingest --help</c>);
/// <c>binary-cache</c> the substitution benchmark against real Nix (bench/BinaryCache, <c>binary-cache --help</c>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "e2e")
        {
            Console.Error.WriteLine("the end-to-end comparison is its own project: dotnet run -c Release --project bench/E2e -- [options] (or ./build.sh bench e2e)");
            return 2;
        }
        if (args.Length > 0 && args[0] == "nar-ingest")
        {
            return Nar.NarRestoreComparison.Run(args[1..]);
        }
        if (args.Length > 0 && args[0] == "binary-cache")
        {
            return BinaryCache.BinaryCacheBenchmark.Run(args[1..]);
        }
        // Without arguments BenchmarkSwitcher would ask interactively; run everything instead.
        string[] switcherArgs = args.Length == 0 ? ["--filter", "*"] : args;
        // BenchmarkDotNet rebuilds the solution for its generated host; on a busy 2-core machine that
        // takes longer than its default 2-minute limit.
        var config = ManualConfig.Create(DefaultConfig.Instance).WithBuildTimeout(TimeSpan.FromMinutes(15));
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(switcherArgs, config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
