namespace TvixLowFs.Bench.E2e;

/// <summary><c>dotnet run -c Release --project bench/E2e -- [options]</c> (<c>--help</c>): the end-to-end comparison.</summary>
public static class Program
{
    public static int Main(string[] args) => EndToEndBenchmark.Run(args);
}
