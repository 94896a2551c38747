using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace TvixLowFs.Filesystem;

/// <summary>The libc calls the descriptor budget and readahead make (src/Common/Interop).</summary>
internal static class LibcCalls
{
    /// <summary>The process's current (soft) limit on open descriptors; it can change at run time (prlimit).</summary>
    public static ulong OpenFileLimit() =>
        Interop.Libc.GetRLimit(Interop.Libc.RLIMIT_NOFILE, out Interop.Libc.RLimit limit) == 0 ? limit.Current : 1024;

    /// <summary>Starts reading the whole file into the page cache without waiting for it; 0 or the error number.</summary>
    public static int StartReadingIntoPageCache(SafeFileHandle file)
    {
        try
        {
            return Interop.Libc.PosixFadvise(file, 0, 0, Interop.Libc.POSIX_FADV_WILLNEED);
        }
        catch (ObjectDisposedException)
        {
            return Errno.EBADF; // dropped meanwhile
        }
    }
}
