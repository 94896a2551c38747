using System.Runtime.InteropServices;
using System.Text;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.TestSupport;

/// <summary>
/// The plain libc calls the mount tests make against a mounted filesystem, each returning 0 or the
/// errno (or -errno for counts), so a test sees the exact error a syscall gave.
/// </summary>
public static unsafe partial class Libc
{
    private const string Library = "libc";

    public const int ENOENT = 2, EIO = 5, EBADF = 9, EACCES = 13, EEXIST = 17, ENOTDIR = 20, EISDIR = 21, EINVAL = 22,
        EROFS = 30, ERANGE = 34, ENODATA = 61, EPERM = 1, ENOTCONN = 107;
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_TRUNC = 0x200, O_APPEND = 0x400, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000;
    public const int R_OK = 4, W_OK = 2, X_OK = 1;

    [LibraryImport(Library, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    public const int SIGINT = 2, SIGKILL = 9, SIGTERM = 15;

    [LibraryImport(Library, EntryPoint = "lstat", SetLastError = true)]
    private static partial int LStatNative(byte* path, Stat* buffer);

    [LibraryImport(Library, EntryPoint = "stat", SetLastError = true)]
    private static partial int StatNative(byte* path, Stat* buffer);

    [LibraryImport(Library, EntryPoint = "open", SetLastError = true)]
    private static partial int OpenNative(byte* path, int flags, int mode);

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Library, EntryPoint = "fsync", SetLastError = true)]
    private static partial int FsyncNative(int fd);

    [LibraryImport(Library, EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FdatasyncNative(int fd);

    /// <summary>fsync(2); returns 0 or errno.</summary>
    public static int Fsync(int fd) => FsyncNative(fd) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>fdatasync(2); returns 0 or errno.</summary>
    public static int Fdatasync(int fd) => FdatasyncNative(fd) == 0 ? 0 : Marshal.GetLastPInvokeError();

    [LibraryImport(Library, EntryPoint = "pread", SetLastError = true)]
    private static partial nint PReadNative(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Library, EntryPoint = "readlink", SetLastError = true)]
    private static partial nint ReadLinkNative(byte* path, byte* buffer, nuint size);

    [LibraryImport(Library, EntryPoint = "lgetxattr", SetLastError = true)]
    private static partial nint LGetXattrNative(byte* path, byte* name, byte* value, nuint size);

    [LibraryImport(Library, EntryPoint = "llistxattr", SetLastError = true)]
    private static partial nint LListXattrNative(byte* path, byte* list, nuint size);

    [LibraryImport(Library, EntryPoint = "mkdir", SetLastError = true)]
    private static partial int MkdirNative(byte* path, uint mode);

    [LibraryImport(Library, EntryPoint = "rename", SetLastError = true)]
    private static partial int RenameNative(byte* from, byte* to);

    [LibraryImport(Library, EntryPoint = "unlink", SetLastError = true)]
    private static partial int UnlinkNative(byte* path);

    [LibraryImport(Library, EntryPoint = "chmod", SetLastError = true)]
    private static partial int ChmodNative(byte* path, uint mode);

    [LibraryImport(Library, EntryPoint = "symlink", SetLastError = true)]
    private static partial int SymlinkNative(byte* target, byte* path);

    [LibraryImport(Library, EntryPoint = "access", SetLastError = true)]
    private static partial int AccessNative(byte* path, int mode);

    [LibraryImport(Library, EntryPoint = "statvfs", SetLastError = true)]
    private static partial int StatVfsNative(byte* path, StatVfs* buffer);

    [LibraryImport(Library, EntryPoint = "opendir", SetLastError = true)]
    private static partial nint OpenDirNative(byte* path);

    [LibraryImport(Library, EntryPoint = "readdir", SetLastError = true)]
    private static partial DirEnt* ReadDirNative(nint directory);

    [LibraryImport(Library, EntryPoint = "telldir", SetLastError = true)]
    public static partial long TellDir(nint directory);

    [LibraryImport(Library, EntryPoint = "seekdir", SetLastError = true)]
    public static partial void SeekDir(nint directory, long position);

    [LibraryImport(Library, EntryPoint = "closedir", SetLastError = true)]
    public static partial int CloseDir(nint directory);

    /// <summary>glibc x86-64 <c>struct dirent</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct DirEnt
    {
        public ulong Ino;
        public long Off;
        public ushort RecLen;
        public byte Type;
        public fixed byte Name[256];
    }

    public static byte[] CString(string s) => Encoding.UTF8.GetBytes(s + "\0");

    /// <summary>Returns 0 or the errno of the failed call.</summary>
    private static int Result(long returned) => returned < 0 ? Marshal.GetLastPInvokeError() : 0;

    public static int LStat(string path, out Stat stat)
    {
        fixed (byte* p = CString(path))
        fixed (Stat* s = &stat)
            return Result(LStatNative(p, s));
    }

    public static int StatFollow(string path, out Stat stat)
    {
        fixed (byte* p = CString(path))
        fixed (Stat* s = &stat)
            return Result(StatNative(p, s));
    }

    public static Stat LStat(string path)
    {
        int error = LStat(path, out Stat stat);
        if (error != 0)
            throw new IOException($"lstat {path}: errno {error}");
        return stat;
    }

    /// <summary>Opens and returns (fd, 0) or (-1, errno).</summary>
    public static (int Fd, int Errno) Open(string path, int flags)
    {
        fixed (byte* p = CString(path))
        {
            int fd = OpenNative(p, flags, 0);
            return fd < 0 ? (-1, Marshal.GetLastPInvokeError()) : (fd, 0);
        }
    }

    /// <summary>pread into <paramref name="buffer"/>; returns the count or -errno.</summary>
    public static long PRead(int fd, Span<byte> buffer, long offset)
    {
        fixed (byte* b = buffer)
        {
            nint n = PReadNative(fd, b, (nuint)buffer.Length, offset);
            return n < 0 ? -Marshal.GetLastPInvokeError() : n;
        }
    }

    public static (byte[]? Target, int Errno) ReadLink(string path)
    {
        var buffer = new byte[4096];
        fixed (byte* p = CString(path))
        fixed (byte* b = buffer)
        {
            nint n = ReadLinkNative(p, b, (nuint)buffer.Length);
            return n < 0 ? (null, Marshal.GetLastPInvokeError()) : (buffer[..(int)n], 0);
        }
    }

    /// <summary>lgetxattr with a buffer of <paramref name="size"/>; returns (length, value, errno).</summary>
    public static (long Length, byte[] Value, int Errno) GetXattr(string path, string name, int size)
    {
        var buffer = new byte[Math.Max(size, 1)];
        fixed (byte* p = CString(path))
        fixed (byte* n = CString(name))
        fixed (byte* b = buffer)
        {
            nint length = LGetXattrNative(p, n, size == 0 ? null : b, (nuint)size);
            return length < 0 ? (-1, [], Marshal.GetLastPInvokeError()) : (length, buffer[..(size == 0 ? 0 : (int)length)], 0);
        }
    }

    public static (long Length, byte[] Value, int Errno) ListXattr(string path, int size)
    {
        var buffer = new byte[Math.Max(size, 1)];
        fixed (byte* p = CString(path))
        fixed (byte* b = buffer)
        {
            nint length = LListXattrNative(p, size == 0 ? null : b, (nuint)size);
            return length < 0 ? (-1, [], Marshal.GetLastPInvokeError()) : (length, buffer[..(size == 0 ? 0 : (int)length)], 0);
        }
    }

    public static int Mkdir(string path)
    {
        fixed (byte* p = CString(path))
            return Result(MkdirNative(p, 0x1ED));
    }

    public static int Rename(string from, string to)
    {
        fixed (byte* f = CString(from))
        fixed (byte* t = CString(to))
            return Result(RenameNative(f, t));
    }

    public static int Unlink(string path)
    {
        fixed (byte* p = CString(path))
            return Result(UnlinkNative(p));
    }

    public static int Chmod(string path, uint mode)
    {
        fixed (byte* p = CString(path))
            return Result(ChmodNative(p, mode));
    }

    public static int Symlink(string target, string path)
    {
        fixed (byte* t = CString(target))
        fixed (byte* p = CString(path))
            return Result(SymlinkNative(t, p));
    }

    public static int Access(string path, int mode)
    {
        fixed (byte* p = CString(path))
            return Result(AccessNative(p, mode));
    }

    public static int StatVfs(string path, out StatVfs stat)
    {
        fixed (byte* p = CString(path))
        fixed (StatVfs* s = &stat)
            return Result(StatVfsNative(p, s));
    }

    /// <summary>A directory stream (opendir) or (0, errno).</summary>
    public static (nint Dir, int Errno) OpenDir(string path)
    {
        fixed (byte* p = CString(path))
        {
            nint dir = OpenDirNative(p);
            return dir == 0 ? (0, Marshal.GetLastPInvokeError()) : (dir, 0);
        }
    }

    /// <summary>The next entry (name, inode, type), null at the end; throws on an error.</summary>
    public static (string Name, ulong Ino, byte Type)? ReadDir(nint directory)
    {
        Marshal.SetLastPInvokeError(0);
        DirEnt* entry = ReadDirNative(directory);
        if (entry == null)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != 0)
                throw new IOException($"readdir: errno {errno}") { HResult = errno };
            return null;
        }
        string name = Marshal.PtrToStringUTF8((nint)entry->Name)!;
        return (name, entry->Ino, entry->Type);
    }

    /// <summary>All names in a directory in readdir order (including . and ..), or the errno of the failure.</summary>
    public static (List<string> Names, int Errno) ListDirectory(string path)
    {
        var names = new List<string>();
        (nint dir, int errno) = OpenDir(path);
        if (dir == 0)
            return (names, errno);
        try
        {
            while (ReadDir(dir) is { } entry)
                names.Add(entry.Name);
            return (names, 0);
        }
        catch (IOException e)
        {
            return (names, e.HResult);
        }
        finally
        {
            CloseDir(dir);
        }
    }
}
