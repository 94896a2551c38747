using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace TvixLowFs.Store;

/// <summary>
/// The file operations of the store that .NET makes in several syscalls or not at all: a rename
/// is only durable once the directory holding it is fsynced (.NET cannot open a directory as a
/// file), and import must tell a fifo, socket or device from a regular file without following
/// symlinks. The libc calls themselves are in src/Common/Interop.
/// </summary>
internal static class StoreFiles
{
    /// <summary>
    /// Whether a store object exists (every object check in the store goes through this), with
    /// one access(2): File.Exists makes a stat and, when the file is absent, an lstat too (for a
    /// dangling symlink, which a store never holds).
    /// </summary>
    public static bool Exists(string path) => Interop.Libc.Access(path, Interop.Libc.F_OK) == 0;

    /// <summary>
    /// Creates a new file (it must not exist) for reading and writing, mode 0666 less the umask (as
    /// .NET creates files), and takes an exclusive flock on it that lasts until it is closed: what
    /// File.OpenHandle with FileMode.CreateNew and FileShare.None does, in two syscalls instead of five.
    /// </summary>
    public static SafeFileHandle CreateLocked(string path)
    {
        SafeFileHandle handle = Interop.Libc.Open(path, Interop.Libc.O_RDWR | Interop.Libc.O_CREAT | Interop.Libc.O_EXCL | Interop.Libc.O_CLOEXEC, 0x1B6);
        if (handle.IsInvalid)
        {
            int errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            throw ErrorFor(errno, $"cannot create '{path}'");
        }
        if (Interop.Libc.Flock(handle, Interop.Libc.LOCK_EX | Interop.Libc.LOCK_NB) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            throw ErrorFor(errno, $"cannot lock '{path}'");
        }
        return handle;
    }

    /// <summary>
    /// rename(2), replacing what <paramref name="to"/> names (how every store object gets its
    /// final name): File.Move adds an lstat of the source first, one syscall more per object.
    /// </summary>
    public static void Rename(string from, string to)
    {
        if (Interop.Libc.Rename(from, to) != 0)
            throw ErrorFor(Marshal.GetLastPInvokeError(), $"cannot rename '{from}' to '{to}'");
    }

    /// <summary>
    /// Gives <paramref name="from"/> the name <paramref name="to"/> only if no file has it, in one
    /// atomic step (renameat2 with RENAME_NOREPLACE), so two processes creating one name cannot both
    /// win; false when the name exists. Where the file system refuses the flag (EINVAL; ENOSYS on an
    /// old kernel) link(2) does the same (the caller removes <paramref name="from"/>); where it has no
    /// hard links either, check-then-rename is the best there is.
    /// </summary>
    public static bool RenameNoReplace(string from, string to)
    {
        if (Interop.Libc.RenameAt2(Interop.Libc.AT_FDCWD, from, Interop.Libc.AT_FDCWD, to, Interop.Libc.RENAME_NOREPLACE) == 0)
            return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == Interop.Errno.EEXIST)
            return false;
        if (errno is not (Interop.Errno.EINVAL or Interop.Errno.ENOSYS))
            throw ErrorFor(errno, $"cannot rename '{from}' to '{to}'");
        return LinkNoReplace(from, to);
    }

    /// <summary>The fallback of <see cref="RenameNoReplace"/>; internal so a test can take it on a file system that has the flag.</summary>
    internal static bool LinkNoReplace(string from, string to)
    {
        if (Interop.Libc.Link(from, to) == 0)
            return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == Interop.Errno.EEXIST)
            return false;
        if (errno is not (Interop.Errno.EPERM or Interop.Errno.EOPNOTSUPP))
            throw ErrorFor(errno, $"cannot link '{from}' to '{to}'");
        if (Exists(to))
            return false;
        Rename(from, to);
        return true;
    }

    /// <summary>lstat: the type and mode bits (<c>st_mode</c>) and size of a path, not following a final symlink.</summary>
    public static (uint Mode, long Size) LStat(string path)
    {
        const uint mask = Interop.Libc.STATX_TYPE | Interop.Libc.STATX_MODE | Interop.Libc.STATX_SIZE;
        if (Interop.Libc.Statx(Interop.Libc.AT_FDCWD, path, Interop.Libc.AT_SYMLINK_NOFOLLOW, mask, out Interop.Libc.StatxBuffer buffer) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw Interop.GetExceptionForIoErrno(errno, $"cannot stat '{path}'", path);
        }
        return (buffer.Mode, (long)buffer.Size);
    }

    /// <summary>
    /// Opens a store file for reading with one open(2), or null when it does not exist.
    /// File.OpenHandle adds two fstats and a shared flock with its unlock at close: five
    /// syscalls more on every blob a mount or the daemon opens, and a store object never
    /// changes, so the lock protects nothing.
    /// </summary>
    public static SafeFileHandle? OpenReadOnly(string path)
    {
        SafeFileHandle handle = Interop.Libc.Open(path, Interop.Libc.O_RDONLY | Interop.Libc.O_CLOEXEC, 0);
        if (!handle.IsInvalid)
            return handle;
        int errno = Marshal.GetLastPInvokeError();
        handle.Dispose();
        return errno is Interop.Errno.ENOENT or Interop.Errno.ENOTDIR ? null : throw ErrorFor(errno, $"cannot open '{path}'");
    }

    /// <summary>
    /// Opens a file to import for reading with one open(2): File.OpenHandle adds two fstats, a
    /// shared flock and a fadvise, and RandomAccess an fstat and an lseek on first use; per file of
    /// a tree of small files that was most of the syscalls of an import.
    /// </summary>
    public static SafeFileHandle OpenToRead(string path)
    {
        SafeFileHandle handle = Interop.Libc.Open(path, Interop.Libc.O_RDONLY | Interop.Libc.O_CLOEXEC, 0);
        if (!handle.IsInvalid)
            return handle;
        int errno = Marshal.GetLastPInvokeError();
        handle.Dispose();
        throw ErrorFor(errno, $"cannot open '{path}'");
    }

    /// <summary>read(2) at the descriptor's offset: the count read, 0 at the end of the file.</summary>
    public static unsafe int Read(SafeFileHandle handle, Span<byte> buffer, string path)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            fixed (byte* pointer = buffer)
            {
                while (true)
                {
                    nint read = Interop.Libc.Read(fd, pointer, (nuint)buffer.Length);
                    if (read >= 0)
                        return (int)read;
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno != Interop.Errno.EINTR)
                        throw ErrorFor(errno, $"cannot read '{path}'");
                }
            }
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>write(2) of all of <paramref name="bytes"/> at the descriptor's offset (a new file's writer writes in order).</summary>
    public static unsafe void WriteAll(SafeFileHandle handle, ReadOnlySpan<byte> bytes, string path)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            fixed (byte* start = bytes)
            {
                byte* pointer = start;
                nuint remaining = (nuint)bytes.Length;
                while (remaining > 0)
                {
                    nint written = Interop.Libc.Write(fd, pointer, remaining);
                    if (written < 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        if (errno == Interop.Errno.EINTR)
                            continue;
                        throw ErrorFor(errno, $"cannot write '{path}'");
                    }
                    pointer += written;
                    remaining -= (nuint)written;
                }
            }
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>Makes the entries of <paramref name="directory"/> (a rename into it) durable.</summary>
    public static void FSyncDirectory(string directory) => FSyncPath(directory);

    /// <summary>Makes a file's bytes, or a directory's entries, durable: any descriptor of the inode will do.</summary>
    public static void FSyncPath(string path)
    {
        using SafeFileHandle handle = OpenForSync(path, "fsync it");
        if (Interop.Libc.FSync(handle) < 0)
            throw new IOException($"cannot fsync '{path}': {Marshal.GetLastPInvokeErrorMessage()}");
    }

    /// <summary>
    /// Writes out everything dirty on the file system holding <paramref name="directory"/> and waits:
    /// one call makes a whole batch of files durable, where an fsync each would commit the journal per file.
    /// </summary>
    public static void SyncFileSystemOf(string directory)
    {
        using SafeFileHandle handle = OpenForSync(directory, "sync its file system");
        if (Interop.Libc.SyncFs(handle) < 0)
            throw new IOException($"cannot sync the file system of '{directory}': {Marshal.GetLastPInvokeErrorMessage()}");
    }

    private static SafeFileHandle OpenForSync(string path, string purpose)
    {
        SafeFileHandle handle = Interop.Libc.Open(path, Interop.Libc.O_RDONLY | Interop.Libc.O_CLOEXEC, 0);
        if (handle.IsInvalid)
        {
            string reason = Marshal.GetLastPInvokeErrorMessage();
            handle.Dispose();
            throw new IOException($"cannot open '{path}' to {purpose}: {reason}");
        }
        return handle;
    }

    // Not GetExceptionForIoErrno: a failed create, rename or open of a store object is an IOException, never "not found".
    private static Exception ErrorFor(int errno, string what)
    {
        string message = $"{what}: {Marshal.GetPInvokeErrorMessage(errno)}";
        return errno is Interop.Errno.EACCES or Interop.Errno.EPERM ? new UnauthorizedAccessException(message) : new IOException(message, errno);
    }
}
