using BenchmarkDotNet.Attributes;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Bench.Micro;

/// <summary>
/// BLAKE3 throughput: every blob is hashed on import and when a remote blob is verified.
/// Native is what the store uses (the official C code through <see cref="Blake3Hasher"/>, SIMD
/// picked at run time); Managed is the Blake3 NuGet package it used before, kept as the baseline.
/// Under the JIT the managed package may use AVX2; the NativeAOT binary (plain x86-64) gets its SSE path only.
/// </summary>
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

    [Benchmark(Baseline = true)]
    public B3Digest Managed()
    {
        Span<byte> hash = stackalloc byte[B3Digest.Length];
        Blake3.Hasher.Hash(_data, hash);
        return B3Digest.FromBytes(hash);
    }

    [Benchmark]
    public B3Digest Native() => B3Digest.Compute(_data);
}
