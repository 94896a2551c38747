namespace TvixLowFs.Bench.E2e;

/// <summary>
/// `dotnet run -c Release --project bench/E2e -- [options]`: issue 5's end-to-end comparison of
/// tvixlowfs with squashfuse_ll and native reads (W1–W5, spawn → ready, peak RSS, remote rows),
/// with libfuse's passthrough_ll beside them as the reference for what a minimal C server reaches.
/// Returns 0 when every measured system returned identical bytes and none failed, 1 otherwise,
/// 2 for a bad command line.
/// </summary>
public static class EndToEndBenchmark
{
    public static int Run(string[] args) =>
        BenchmarkEntry.Run("e2e", BenchmarkOptions.Usage, () => BenchmarkOptions.Parse(args), o => o.ShowHelp, o => new EndToEndRun(o).Execute());
}
