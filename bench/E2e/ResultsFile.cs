namespace TvixLowFs.Bench.E2e;

/// <summary>Where a run's markdown goes: <c>--results-dir</c>, else the repository's bench/results; named by kind and start time.</summary>
internal static class ResultsFile
{
    /// <summary>Writes <c>KIND-yyyy-MM-dd-HHmm[-quick].md</c> and returns its path.</summary>
    public static string Write(string? resultsDirectory, string? repository, string kind, DateTime startedUtc, bool quick, string markdown)
    {
        var directory = DirectoryOf(resultsDirectory, repository);
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"{kind}-{startedUtc:yyyy-MM-dd-HHmm}{(quick ? "-quick" : "")}.md");
        File.WriteAllText(path, markdown);
        return path;
    }

    public static string DirectoryOf(string? resultsDirectory, string? repository) =>
        resultsDirectory ?? Path.Combine(repository ?? Environment.CurrentDirectory, "bench", "results");
}
