using System.Diagnostics;
using System.Runtime;

namespace TvixLowFs.Tests.Performance;

/// <summary>
/// Bytes a synchronous piece of work allocates once the runtime has settled, measured so that
/// nothing but that work can count:
/// <list type="bullet">
/// <item>on a dedicated thread that runs only the work (no test-framework code, no thread-pool or
/// timer callback, no continuation resuming on another thread, which would read two threads'
/// counters), with <see cref="GC.GetAllocatedBytesForCurrentThread"/>;</item>
/// <item>after a warm-up that lasts until the JIT has stopped compiling
/// (<see cref="JitInfo.GetCompiledMethodCount"/> unchanged over a quarter of a second of work),
/// so tier-0 code, OSR and first-use initialisation are behind it.</item>
/// </list>
/// Every measured round must then be exactly zero; a round that is not reports how many methods
/// the JIT compiled meanwhile, to tell the runtime's one-offs from the work's own allocation.
/// </summary>
internal static class SteadyStateAllocation

{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan WarmUpLimit = TimeSpan.FromSeconds(60);

    public readonly record struct Round(long Bytes, long MethodsCompiled)
    {
        public override string ToString() => MethodsCompiled == 0 ? $"{Bytes} B" : $"{Bytes} B (JIT compiled {MethodsCompiled} methods meanwhile)";
    }

    public static Round[] Measure(Action work, int rounds) => Measure(() =>
    {
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        work();
        return GC.GetAllocatedBytesForCurrentThread() - allocated;
    }, rounds);

    /// <summary>The same for work that measures a window of itself (returns the bytes allocated in it) on the calling thread.</summary>
    public static Round[] Measure(Func<long> work, int rounds)
    {
        var results = new Round[rounds];
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                WarmUp(work);
                for (int i = 0; i < rounds; i++)
                {
                    long compiled = JitInfo.GetCompiledMethodCount();
                    long bytes = work();
                    results[i] = new Round(bytes, JitInfo.GetCompiledMethodCount() - compiled);
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        }) { IsBackground = true, Name = "allocation measurement" };
        thread.Start();
        if (!thread.Join(TimeSpan.FromMinutes(3)))
            throw new TimeoutException("the allocation measurement did not finish in 3 minutes");
        if (failure is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        return results;
    }

    private static void WarmUp(Func<long> work)
    {
        var total = Stopwatch.StartNew();
        for (int i = 0; i < 3; i++)
            work();
        while (total.Elapsed < WarmUpLimit)
        {
            long compiled = JitInfo.GetCompiledMethodCount();
            var quiet = Stopwatch.StartNew();
            do
                work();
            while (quiet.Elapsed < Quiet);
            if (JitInfo.GetCompiledMethodCount() == compiled)
                return;
        }
    }
}
