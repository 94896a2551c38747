using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// The libc calls MountPoint makes to check a destination and detach a stale mount.
internal static unsafe partial class LibcMount
{
    private const string Library = "libc";

    internal const int ENOENT = 2, ENOTDIR = 20, ENOTCONN = 107;
    private const int F_OK = 0, MNT_DETACH = 2;

    /// <summary><c>int access(const char *path, int mode)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "access", SetLastError = true)]
    private static partial int Access(byte* path, int mode);

    /// <summary><c>int umount2(const char *target, int flags)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "umount2", SetLastError = true)]
    private static partial int Umount2(byte* path, int flags);

    /// <summary>0 when <paramref name="path"/> exists (stat-able), else the errno.</summary>
    internal static int Exists(string path)
    {
        fixed (byte* p = NulTerminated(path))
            return Access(p, F_OK) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>Lazily detaches the mount at <paramref name="path"/>; 0 or the errno.</summary>
    internal static int DetachMount(string path)
    {
        fixed (byte* p = NulTerminated(path))
            return Umount2(p, MNT_DETACH) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    private static byte[] NulTerminated(string path) => System.Text.Encoding.UTF8.GetBytes(path + "\0");
}
