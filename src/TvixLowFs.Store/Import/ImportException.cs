namespace TvixLowFs.Store.Import;

/// <summary>A path cannot be imported; the message names the offending path (which may lie inside the tree) and says why.</summary>
public sealed class ImportException(string path, string reason) : Exception($"cannot import '{path}': {reason}")
{
    public string OffendingPath { get; } = path;
}
