using NUnit.Framework;
using System.Runtime.InteropServices;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Tests.Fuse;

/// <summary>The few libc calls the mount tests use to see the exact errno a syscall returns.</summary>
internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "lstat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int LStat(string path, Stat* stat);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    internal static partial nint PRead(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "close")]
    internal static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "mkdir", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int MkDir(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "statvfs", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int StatVfs(string path, StatVfs* stat);

    internal const int O_RDONLY = 0, O_WRONLY = 1;

    /// <summary>lstat's errno, or 0 on success.</summary>
    internal static int LStatErrno(string path, out Stat stat)
    {
        fixed (Stat* s = &stat) return LStat(path, s) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }
}
