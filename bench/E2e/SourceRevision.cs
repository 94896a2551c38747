namespace TvixLowFs.Bench.E2e;

/// <summary>The commit a run measured, as its report names it.</summary>
internal static class SourceRevision
{
    /// <summary>"commit abc1234 subject", marked when the worktree has changes outside bench/results.</summary>
    public static string Describe(string repository)
    {
        try
        {
            var head = ExternalCommand.Run("git", ["-C", repository, "log", "-1", "--format=%h %s"], timeout: TimeSpan.FromSeconds(20));
            var dirty = ExternalCommand.Run("git", ["-C", repository, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"], timeout: TimeSpan.FromSeconds(20));
            return head.ExitCode != 0 ? "unknown (not a git checkout)" : $"commit {head.StandardOutput.Trim()}{(dirty.StandardOutput.Trim().Length > 0 ? " (with uncommitted changes)" : "")}";
        }
        catch (Exception e) when (e is BenchmarkFailure or System.ComponentModel.Win32Exception)
        {
            return "unknown (git: " + e.Message + ")";
        }
    }
}
