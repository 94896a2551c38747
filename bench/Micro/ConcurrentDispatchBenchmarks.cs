using BenchmarkDotNet.Attributes;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Bench.Micro;

/// <summary>
/// The inode table under contention: <see cref="Threads"/> threads each look up and getattr their
/// own share of a directory's children (different inodes), as libfuse's worker threads do. With
/// no shared lock on the hit path the time per operation stays flat from 1 to 2 threads (on an
/// idle machine with at least 2 cores). Replies go to a sink that drops them after warm-up, so
/// the threads share nothing but the filesystem.
/// </summary>
[MemoryDiagnoser]
public class ConcurrentDispatchBenchmarks
{
    // Ten passes over the children per invocation (~1 ms), so waking the worker is noise.
    private const int Rounds = 10;
    private const int OperationsPerInvoke = Rounds * 2 * WarmStoreFilesystem.ChildCount;

    private WarmStoreFilesystem _warm = null!;
    private DroppingReplySink _sink = null!;
    private Thread? _worker;
    private volatile int _generation;
    private volatile int _workerDone;
    private volatile bool _stop;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _warm = WarmStoreFilesystem.CreateAsync(recorder => _sink = new DroppingReplySink(recorder)).GetAwaiter().GetResult();
        _sink.Drop = true;
        if (Threads == 2)
        {
            _worker = new Thread(WorkerLoop) { IsBackground = true, Name = "dispatch-worker" };
            _worker.Start();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop = true;
        _worker?.Join();
        _warm.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(OperationsPerInvoke = OperationsPerInvoke)]
    public void LookupAndGetAttr()
    {
        if (_worker is null)
        {
            Dispatch(0, WarmStoreFilesystem.ChildCount);
            return;
        }
        int generation = _generation + 1;
        _generation = generation;
        Dispatch(0, WarmStoreFilesystem.ChildCount / 2);
        var spin = new SpinWait();
        while (_workerDone != generation)
            spin.SpinOnce(sleep1Threshold: -1);
    }

    private void Dispatch(int from, int to)
    {
        var filesystem = _warm.Filesystem;
        ulong dir = _warm.Dir;
        for (int round = 0; round < Rounds; round++)
        {
            for (int i = from; i < to; i++)
            {
                filesystem.Lookup(default, dir, _warm.ChildNames[i]);
                unsafe { filesystem.GetAttr(default, _warm.ChildInodes[i], null); }
            }
        }
    }

    private void WorkerLoop()
    {
        int seen = 0;
        var spin = new SpinWait();
        while (!_stop)
        {
            int generation = _generation;
            if (generation == seen)
            {
                // Yield but never sleep: a 1 ms sleep would dwarf the work it waits for.
                spin.SpinOnce(sleep1Threshold: -1);
                continue;
            }
            spin.Reset();
            seen = generation;
            Dispatch(WarmStoreFilesystem.ChildCount / 2, WarmStoreFilesystem.ChildCount);
            _workerDone = generation;
        }
    }

    /// <summary>Benchmark double: forwards to the recorder during warm-up, then drops every reply.</summary>
    private sealed class DroppingReplySink(AllocationFreeReplySink recorder) : IFuseReplySink
    {
        public volatile bool Drop;

        public int Entry(FuseRequest request, in FuseEntryParam entry) => Drop ? 0 : recorder.Entry(request, in entry);
        public int Attr(FuseRequest request, in Stat attr, double timeout) => Drop ? 0 : recorder.Attr(request, in attr, timeout);
        public int Err(FuseRequest request, int errno) => Drop ? 0 : recorder.Err(request, errno);
        public void None(FuseRequest request) { if (!Drop) recorder.None(request); }
        public int Buf(FuseRequest request, ReadOnlySpan<byte> data) => Drop ? 0 : recorder.Buf(request, data);
        public int Data(FuseRequest request, ref FuseBufVec buffers, FuseBufCopyFlags flags) => Drop ? 0 : recorder.Data(request, ref buffers, flags);
        public int Open(FuseRequest request, in FuseFileInfo fileInfo) => Drop ? 0 : recorder.Open(request, in fileInfo);
        public int OpenPassthrough(FuseRequest request, in FuseFileInfo fileInfo, int backingId) => Drop ? 0 : recorder.OpenPassthrough(request, in fileInfo, backingId);
        public int ReadLink(FuseRequest request, ReadOnlySpan<byte> target) => Drop ? 0 : recorder.ReadLink(request, target);
        public int StatFs(FuseRequest request, in StatVfs stat) => Drop ? 0 : recorder.StatFs(request, in stat);
        public int Xattr(FuseRequest request, nuint size) => Drop ? 0 : recorder.Xattr(request, size);
    }
}
