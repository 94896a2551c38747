namespace TvixLowFs.Bench.E2e;

/// <summary>
/// The frame of a benchmark mode (e2e, binary-cache): parse the command line (2 and the usage on
/// a bad one), print the usage for --help, install the teardown hooks, run, and remove whatever
/// was left mounted or running on the way out (1 for a <see cref="BenchmarkFailure"/>).
/// </summary>
internal static class BenchmarkEntry
{
    public static int Run<TOptions>(string mode, string usage, Func<TOptions> parse, Func<TOptions, bool> showHelp, Func<TOptions, int> execute)
    {
        TOptions options;
        try
        {
            options = parse();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"{mode}: {e.Message}");
            Console.Error.WriteLine(usage);
            return 2;
        }
        if (showHelp(options))
        {
            Console.WriteLine(usage);
            return 0;
        }
        Teardown.Instance.InstallHooks();
        try
        {
            return execute(options);
        }
        catch (BenchmarkFailure e)
        {
            Console.Error.WriteLine($"{mode}: FAILED: {e.Message}");
            return 1;
        }
        finally
        {
            Teardown.Instance.RemoveEverything();
        }
    }
}
