namespace TvixLowFs.Bench.BinaryCache;

/// <summary>What the benchmark needs of one narinfo that real Nix wrote: where the NAR is and how big it is.</summary>
internal sealed record CachedStorePath(string StorePath, string NarUrl, string Compression, string NarHash, long NarSize, long FileSize)
{
    public string BaseName => Path.GetFileName(StorePath);

    /// <summary>Reads the fields of a narinfo file; Nix made it, so a missing field is a broken fixture.</summary>
    public static CachedStorePath Read(string narInfoPath)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(narInfoPath))
        {
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            if (colon > 0) fields[line[..colon]] = line[(colon + 2)..];
        }
        string Field(string name) => fields.TryGetValue(name, out var value) ? value : throw new InvalidDataException($"{narInfoPath} has no {name}");
        return new CachedStorePath(
            Field("StorePath"),
            Field("URL"),
            Field("Compression"),
            Field("NarHash"),
            long.Parse(Field("NarSize"), System.Globalization.CultureInfo.InvariantCulture),
            long.Parse(Field("FileSize"), System.Globalization.CultureInfo.InvariantCulture));
    }
}
