// TEMPORARY (bench helper): routes `e2e` until the model helper's BenchmarkSwitcher Program.cs lands.
public static class Program
{
    public static int Main(string[] args) =>
        args.Length > 0 && args[0] == "e2e" ? TvixLowFs.Bench.E2e.EndToEndBenchmark.Run(args[1..]) : 0;
}
