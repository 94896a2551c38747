using BenchmarkDotNet.Attributes;
using TvixLowFs.Fuse.Native;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Bench.Micro;

/// <summary>
/// For comparison with the hits: the cost of a miss, measured as the first open of a local://
/// blob whose descriptor was dropped (the kernel forgot the inode). The open is answered from the
/// fetch's continuation; the benchmark waits for that reply.
/// </summary>
[MemoryDiagnoser]
public unsafe class MissDispatchBenchmarks
{
    private WarmStoreFilesystem _warm = null!;

    [GlobalSetup]
    public void Setup() => _warm = WarmStoreFilesystem.CreateAsync().GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup() => _warm.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark]
    public void ForgetThenOpenLocalBlob()
    {
        // The kernel forgets every lookup of the inode: the count drops to zero and the blob closes.
        ulong lookups = (ulong)_warm.Filesystem.Inodes.Get(_warm.Blob)!.Lookups;
        _warm.Filesystem.Forget(_warm.NextRequest(), _warm.Blob, lookups);
        long before = _warm.Sink.Count;
        FuseFileInfo info = default;
        _warm.Filesystem.Open(_warm.NextRequest(), _warm.Blob, &info);
        if (!_warm.Sink.WaitForCountAbove(before, TimeSpan.FromSeconds(30)) || _warm.Sink.LastKind != RecordedReply.Open)
            throw new InvalidOperationException("the open was not answered");
    }
}
