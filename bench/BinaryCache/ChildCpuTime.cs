using System.Runtime.InteropServices;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// User + system CPU time of every child this process has waited for, from getrusage(RUSAGE_CHILDREN):
/// the difference around one measured command (and whatever it spawned and waited for) says
/// whether a side was busy computing or waiting, without a profiler.
/// </summary>
internal static partial class ChildCpuTime
{
    private const int RusageChildren = -1;

    /// <summary>struct rusage on x86-64 Linux is 18 longs: ru_utime and ru_stime (seconds, microseconds each), then 14 counters.</summary>
    private const int RusageWords = 18;

    public static unsafe TimeSpan Total()
    {
        var usage = stackalloc long[RusageWords];
        if (getrusage(RusageChildren, usage) != 0) return TimeSpan.Zero;
        var seconds = usage[0] + usage[2];
        var microseconds = usage[1] + usage[3];
        return TimeSpan.FromTicks(seconds * TimeSpan.TicksPerSecond + microseconds * TimeSpan.TicksPerMicrosecond);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int getrusage(int who, long* usage);
}
