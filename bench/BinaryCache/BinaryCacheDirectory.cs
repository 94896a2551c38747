namespace TvixLowFs.Bench.BinaryCache;

/// <summary>A `file://` binary cache real Nix wrote with `nix copy --to`, as served over HTTP.</summary>
internal sealed class BinaryCacheDirectory
{
    public string Name { get; }
    public string Directory { get; }
    public IReadOnlyList<CachedStorePath> Paths { get; }
    public long NarBytes => Paths.Sum(p => p.NarSize);
    public long FileBytes => Paths.Sum(p => p.FileSize);
    public string Compression => string.Join("+", Paths.Select(p => p.Compression).Distinct().Order(StringComparer.Ordinal));

    private BinaryCacheDirectory(string name, string directory, IReadOnlyList<CachedStorePath> paths)
    {
        Name = name;
        Directory = directory;
        Paths = paths;
    }

    public static BinaryCacheDirectory Load(string name, string directory) =>
        new(name, directory, [.. System.IO.Directory.EnumerateFiles(directory, "*.narinfo").Order(StringComparer.Ordinal).Select(CachedStorePath.Read)]);

    public CachedStorePath Get(string storePath) =>
        Paths.FirstOrDefault(p => p.StorePath == storePath) ?? throw new InvalidDataException($"the {Name} cache has no {storePath}");

    public string Describe() =>
        $"{Paths.Count} paths, NAR {NarBytes / (double)(1 << 20):0.0} MiB, {Compression} {FileBytes / (double)(1 << 20):0.0} MiB ({(double)NarBytes / Math.Max(1, FileBytes):0.00}:1)";
}
