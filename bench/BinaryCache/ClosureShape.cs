namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// How big the binary-cache corpus is: issue 12's closure of at least 500 MiB in at least 50
/// store paths with a 512 MiB NAR for the first-byte measurement, or a small one for smoke runs.
/// Each package holds SmallFiles text files of up to 8 KiB, MediumFiles of 32–512 KiB (a quarter
/// of them random bytes), and two large files of LargeFileMinBytes–LargeFileMaxBytes (one random, one text).
/// </summary>
internal sealed record ClosureShape(string Name, int PackageCount, int SmallFiles, int MediumFiles, int LargeFileMinBytes, int LargeFileMaxBytes, long BigNarFileBytes, long MinimumClosureBytes)
{
    public static readonly ClosureShape Full = new("full", 62, 200, 8, 3 << 19, 4 << 20, 512L << 20, 500L << 20);
    public static readonly ClosureShape Quick = new("quick", 14, 60, 3, 3 << 18, 2 << 20, 64L << 20, 40L << 20);
}
