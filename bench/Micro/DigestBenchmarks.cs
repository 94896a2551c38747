using BenchmarkDotNet.Attributes;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Bench.Micro;

/// <summary>BLAKE3 throughput: every blob is hashed on import and when a remote blob is verified.</summary>
[MemoryDiagnoser]
public class DigestBenchmarks
{
    private byte[] _data = [];

    [Params(4 * 1024, 1024 * 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        new Random(42).NextBytes(_data);
    }

    [Benchmark]
    public B3Digest Compute() => B3Digest.Compute(_data);
}
