using BenchmarkDotNet.Attributes;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Bench.Micro;

/// <summary>
/// One FUSE request each, dispatched to the store filesystem's handlers exactly as the binding's
/// entry points do, with every answer a hit (see <see cref="WarmStoreFilesystem"/>). Allocated
/// must read 0 B: the kernel path runs this very code.
/// </summary>
[MemoryDiagnoser]
public unsafe class DispatchBenchmarks
{
    private WarmStoreFilesystem _warm = null!;
    private FuseFileInfo _fileInfo;

    [GlobalSetup]
    public void Setup() => _warm = WarmStoreFilesystem.CreateAsync().GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup() => _warm.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark]
    public void LookupStorePath() => _warm.Filesystem.Lookup(_warm.NextRequest(), 1, _warm.StorePathName);

    [Benchmark]
    public void LookupChild() => _warm.Filesystem.Lookup(_warm.NextRequest(), _warm.Dir, _warm.ChildNames[500]);

    [Benchmark]
    public void GetAttr() => _warm.Filesystem.GetAttr(_warm.NextRequest(), _warm.ChildInodes[500], null);

    [Benchmark]
    public void ReadLink() => _warm.Filesystem.ReadLink(_warm.NextRequest(), _warm.Link);

    [Benchmark]
    public void OpenLocalBlob()
    {
        FuseFileInfo info = default;
        _warm.Filesystem.Open(_warm.NextRequest(), _warm.Blob, &info);
    }

    /// <summary>A 128 KiB read of a local:// blob: answered with an fd-backed bufvec (splice).</summary>
    [Benchmark]
    public void ReadLocalBlob()
    {
        fixed (FuseFileInfo* info = &_fileInfo)
            _warm.Filesystem.Read(_warm.NextRequest(), _warm.Blob, 128 * 1024, 256 * 1024, info);
    }

    [Benchmark]
    public void GetXattr() => _warm.Filesystem.GetXattr(_warm.NextRequest(), _warm.Blob, "user.tvix.castore.blob.digest"u8, 256);

    /// <summary>A kernel-issued forget of one lookup (the pair of every lookup).</summary>
    [Benchmark]
    public void LookupAndForget()
    {
        _warm.Filesystem.Lookup(_warm.NextRequest(), _warm.Dir, _warm.ChildNames[7]);
        _warm.Filesystem.Forget(_warm.NextRequest(), _warm.ChildInodes[7], 1);
    }
}

/// <summary>readdir and readdirplus of a 1000-entry directory, one kernel-sized page from offset 0.</summary>
[MemoryDiagnoser]
public unsafe class DirectoryPageDispatchBenchmarks
{
    private WarmStoreFilesystem _warm = null!;
    private FuseFileInfo _fileInfo;

    [Params(4096, 128 * 1024)]
    public int PageSize { get; set; }

    [GlobalSetup]
    public void Setup() => _warm = WarmStoreFilesystem.CreateAsync().GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup() => _warm.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark]
    public void ReadDir()
    {
        fixed (FuseFileInfo* info = &_fileInfo)
            _warm.Filesystem.ReadDir(_warm.NextRequest(), _warm.Dir, (nuint)PageSize, 0, info);
    }

    [Benchmark]
    public void ReadDirPlus()
    {
        fixed (FuseFileInfo* info = &_fileInfo)
            _warm.Filesystem.ReadDirPlus(_warm.NextRequest(), _warm.Dir, (nuint)PageSize, 0, info);
    }
}
