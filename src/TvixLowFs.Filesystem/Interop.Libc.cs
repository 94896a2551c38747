using System.Runtime.InteropServices;

namespace TvixLowFs.Filesystem;

/// <summary>The libc calls the mount point checks and the descriptor budget need.</summary>
internal static unsafe partial class Interop
{
    private const string Libc = "libc";

    public const int ENOENT = 2;
    public const int ENOTDIR = 20;
    public const int ENOTCONN = 107;
    public const int MNT_DETACH = 2;
    private const int F_OK = 0;

    [LibraryImport(Libc, EntryPoint = "access", SetLastError = true)]
    private static partial int AccessNative(byte* path, int mode);

    private const int RLIMIT_NOFILE = 7;

    [LibraryImport(Libc, EntryPoint = "getrlimit")]
    private static partial int GetRlimitNative(int resource, ulong* limits);

    /// <summary>The process's current (soft) limit on open descriptors; it can change at run time (prlimit).</summary>
    public static ulong OpenFileLimit()
    {
        ulong* limits = stackalloc ulong[2];
        return GetRlimitNative(RLIMIT_NOFILE, limits) == 0 ? limits[0] : 1024;
    }

    [LibraryImport(Libc, EntryPoint = "umount2", SetLastError = true)]
    private static partial int Umount2Native(byte* path, int flags);

    /// <summary>0 when <paramref name="path"/> exists (stat-able), else the errno.</summary>
    public static int Exists(string path)
    {
        fixed (byte* p = NulTerminated(path))
            return AccessNative(p, F_OK) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>Lazily detaches the mount at <paramref name="path"/>; 0 or the errno.</summary>
    public static int DetachMount(string path)
    {
        fixed (byte* p = NulTerminated(path))
            return Umount2Native(p, MNT_DETACH) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    private const int POSIX_FADV_WILLNEED = 3;

    [LibraryImport(Libc, EntryPoint = "posix_fadvise")]
    private static partial int PosixFadviseNative(int fd, long offset, long length, int advice);

    /// <summary>Starts reading the whole file into the page cache without waiting for it; 0 or the error number.</summary>
    public static int StartReadingIntoPageCache(Microsoft.Win32.SafeHandles.SafeFileHandle file)
    {
        bool referenced = false;
        try
        {
            file.DangerousAddRef(ref referenced);
            return PosixFadviseNative((int)file.DangerousGetHandle(), 0, 0, POSIX_FADV_WILLNEED);
        }
        catch (ObjectDisposedException)
        {
            return 9; // EBADF: dropped meanwhile
        }
        finally
        {
            if (referenced)
                file.DangerousRelease();
        }
    }

    private static byte[] NulTerminated(string path) => System.Text.Encoding.UTF8.GetBytes(path + "\0");
}
