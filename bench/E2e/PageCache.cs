namespace TvixLowFs.Bench.E2e;

/// <summary>The kernel's page, dentry and inode caches, dropped so that every system starts cold.</summary>
internal static class PageCache
{
    private const string NotePrefix = "**caches could not be dropped**";

    /// <summary>
    /// `sync; echo 3 > /proc/sys/vm/drop_caches`. When that is not allowed (not root, no /proc),
    /// one note saying so and what it means for the figures is added to the report's notes.
    /// </summary>
    public static void Drop(ICollection<string> notes, string consequence)
    {
        ExternalCommand.Run("sync", []);
        try
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "3\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (!notes.Any(n => n.StartsWith(NotePrefix, StringComparison.Ordinal))) notes.Add($"{NotePrefix} ({e.Message}): {consequence}");
        }
    }
}
