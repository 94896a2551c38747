using TvixLowFs.Fuzz;

namespace TvixLowFs.Tests.Fuzz;

/// <summary>The checked-in fuzz inputs: tests/TvixLowFs.Fuzz/corpus/TARGET/ (seeds) and crashes/TARGET/ (each crash afl++ found, kept).</summary>
internal static class FuzzInputs
{
    public static string FuzzProject { get; } = FindFuzzProject();

    public static string CorpusOf(FuzzTarget target) => Path.Combine(FuzzProject, "corpus", target.Name);

    public static string CrashesOf(FuzzTarget target) => Path.Combine(FuzzProject, "crashes", target.Name);

    /// <summary>Every seed and crash input of every target, as (target, file relative to the fuzz project).</summary>
    public static IEnumerable<(FuzzTarget Target, string File)> All() =>
        from target in FuzzTarget.All
        from directory in new[] { CorpusOf(target), CrashesOf(target) }
        where Directory.Exists(directory)
        from file in Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal)
        select (target, Path.GetRelativePath(FuzzProject, file));

    private static string FindFuzzProject()
    {
        // The test binaries run from tests/TvixLowFs.Tests/bin/...; the inputs live in the source tree.
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "tests", "TvixLowFs.Fuzz");
            if (Directory.Exists(Path.Combine(candidate, "corpus")))
                return candidate;
        }
        throw new DirectoryNotFoundException("tests/TvixLowFs.Fuzz/corpus not found above " + AppContext.BaseDirectory);
    }
}
