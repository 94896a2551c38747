using BenchmarkDotNet.Attributes;
using TvixLowFs.Store.Memory;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;

namespace TvixLowFs.Bench.Micro;

/// <summary>
/// The NAR reader over an in-memory NAR of 2,000 entries (50 directories of 30 files of 1 KiB and
/// 10 symlinks), with a null sink: every file's contents read and dropped. Results are per entry
/// (OperationsPerInvoke), so the Allocated column shows what the hot path allocates per entry: the
/// reader's one-off construction (hash state, level arrays; the buffer is pooled) spread over 2,050
/// events, nothing else. Ingestion into memory:// services is the second row, for scale: it builds
/// one Directory message per directory and one blob per file, which necessarily allocate.
/// </summary>
[MemoryDiagnoser]
public class NarIngestionBenchmarks
{
    private const int Directories = 50;
    private const int FilesPerDirectory = 30;
    private const int SymlinksPerDirectory = 10;
    private const int Events = 1 + Directories * (1 + FilesPerDirectory + SymlinksPerDirectory + 1) + 1;

    private byte[] _nar = [];

    [GlobalSetup]
    public void Setup()
    {
        var contents = new byte[1024];
        new Random(42).NextBytes(contents);
        var output = new MemoryStream();
        var writer = new NarWriter(output);
        writer.WriteHeader();
        writer.BeginDirectory();
        for (int d = 0; d < Directories; d++)
        {
            writer.BeginEntry(System.Text.Encoding.ASCII.GetBytes($"dir-{d:D3}"));
            writer.BeginDirectory();
            for (int i = 0; i < FilesPerDirectory + SymlinksPerDirectory; i++)
            {
                writer.BeginEntry(System.Text.Encoding.ASCII.GetBytes($"entry-{i:D3}"));
                if (i < FilesPerDirectory)
                {
                    writer.BeginFile(executable: i % 10 == 0, (ulong)contents.Length);
                    writer.WriteFileContents(contents);
                    writer.EndFile();
                }
                else
                {
                    writer.WriteSymlink("../dir-000/entry-000"u8);
                }
                writer.EndEntry();
            }
            writer.EndDirectory();
            writer.EndEntry();
        }
        writer.EndDirectory();
        _nar = output.ToArray();
    }

    [Benchmark(OperationsPerInvoke = Events)]
    public async Task<ulong> ReadToNullSink()
    {
        using var reader = new NarReader(new MemoryStream(_nar, writable: false), (ulong)_nar.Length);
        while (true)
        {
            NarEvent next = await reader.ReadAsync().ConfigureAwait(false);
            if (next == NarEvent.End)
                return reader.NarSize;
            if (next == NarEvent.File)
            {
                while (!(await reader.ReadFileContentsAsync().ConfigureAwait(false)).IsEmpty)
                {
                }
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Events)]
    public async Task<ulong> IngestIntoMemoryServices()
    {
        var ingester = new NarIngester(new MemoryBlobService(), new MemoryDirectoryService());
        NarIngestResult result = await ingester.IngestAsync(new MemoryStream(_nar, writable: false), (ulong)_nar.Length).ConfigureAwait(false);
        return result.NarSize;
    }
}
