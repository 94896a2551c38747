using BenchmarkDotNet.Attributes;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Bench.Micro;

/// <summary>
/// NAR writing for CalculateNAR and import: the writer alone (to a null stream) and with the
/// SHA-256 that nar_sha256 needs, over a tree of 100 files of 4 KiB.
/// </summary>
[MemoryDiagnoser]
public class NarBenchmarks
{
    private const int Files = 100;
    private readonly byte[] _contents = new byte[4096];
    private readonly byte[][] _names = Enumerable.Range(0, Files).Select(i => System.Text.Encoding.ASCII.GetBytes($"file-{i:D4}")).ToArray();

    [GlobalSetup]
    public void Setup() => new Random(42).NextBytes(_contents);

    private void WriteTree(Stream output)
    {
        var writer = new NarWriter(output);
        writer.WriteHeader();
        writer.BeginDirectory();
        for (int i = 0; i < Files; i++)
        {
            writer.BeginEntry(_names[i]);
            writer.BeginFile(executable: i % 10 == 0, (ulong)_contents.Length);
            writer.WriteFileContents(_contents);
            writer.EndFile();
            writer.EndEntry();
        }
        writer.EndDirectory();
    }

    [Benchmark]
    public void WriteToNullStream() => WriteTree(Stream.Null);

    [Benchmark]
    public ulong WriteAndHash()
    {
        using var hasher = new NarHasher();
        WriteTree(hasher);
        return hasher.Size;
    }
}
