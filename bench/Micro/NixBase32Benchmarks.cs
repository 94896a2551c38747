using BenchmarkDotNet.Attributes;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Bench.Micro;

/// <summary>nixbase32 of store path hashes: decoded on every lookup at the mount's root.</summary>
[MemoryDiagnoser]
public class NixBase32Benchmarks
{
    private readonly byte[] _text = "00bgd045z0d4icpbc2yyz4gx48ak44la"u8.ToArray();
    private readonly byte[] _hash = new byte[20];
    private readonly byte[] _encoded = new byte[32];

    [Benchmark]
    public bool TryDecodeHash() => NixBase32.TryDecode(_text, _hash);

    [Benchmark]
    public void EncodeHash() => NixBase32.Encode(_hash, _encoded);
}

/// <summary>The parse a FUSE lookup at the root does for every name it is asked about.</summary>
[MemoryDiagnoser]
public class StorePathBenchmarks
{
    private readonly byte[] _valid = "00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432"u8.ToArray();
    private readonly byte[] _invalid = "libc.so.6"u8.ToArray();

    [Benchmark]
    public bool TryParseValidBasename() => StorePath.TryParseBasename(_valid, out StorePathHash _);

    [Benchmark]
    public bool TryParseInvalidBasename() => StorePath.TryParseBasename(_invalid, out StorePathHash _);
}
