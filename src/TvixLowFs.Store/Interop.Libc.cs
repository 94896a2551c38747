using System.Runtime.InteropServices;

namespace TvixLowFs.Store;

internal static partial class Interop
{
    /// <summary>
    /// The few libc calls .NET does not offer: a rename is only durable once the directory
    /// holding it is fsynced (.NET cannot open a directory as a file), and import must tell a
    /// fifo, socket or device from a regular file without following symlinks (lstat's file type).
    /// </summary>
    internal static partial class Libc
    {
        private const int O_RDONLY = 0;
        private const int O_CLOEXEC = 0x80000;

        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "access", StringMarshalling = StringMarshalling.Utf8)]
        private static partial int Access(string path, int mode);

        /// <summary>
        /// Whether a store object exists (every object check in the store goes through this), with
        /// one access(2): File.Exists makes a stat and, when the file is absent, an lstat too (for a
        /// dangling symlink, which a store never holds).
        /// </summary>
        public static bool Exists(string path) => Access(path, 0) == 0;

        private const int O_RDWR = 2;
        private const int O_CREAT = 0x40;
        private const int O_EXCL = 0x80;
        private const int LOCK_EX = 2;
        private const int LOCK_NB = 4;

        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int OpenCreate(string path, int flags, int mode);

        [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
        private static partial int Flock(int fd, int operation);

        /// <summary>
        /// Creates a new file (it must not exist) for reading and writing, mode 0666 less the umask (as
        /// .NET creates files), and takes an
        /// exclusive flock on it that lasts until it is closed: what File.OpenHandle with
        /// FileMode.CreateNew and FileShare.None does, in two syscalls instead of five.
        /// </summary>
        public static Microsoft.Win32.SafeHandles.SafeFileHandle CreateLocked(string path)
        {
            int fd = OpenCreate(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0x1B6);
            if (fd < 0)
                throw ErrorFor(Marshal.GetLastPInvokeError(), $"cannot create '{path}'");
            var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
            if (Flock(fd, LOCK_EX | LOCK_NB) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                handle.Dispose();
                throw ErrorFor(errno, $"cannot lock '{path}'");
            }
            return handle;
        }

        private static Exception ErrorFor(int errno, string what)
        {
            string message = $"{what}: {Marshal.GetPInvokeErrorMessage(errno)}";
            return errno is 13 or 1 ? new UnauthorizedAccessException(message) : new IOException(message, errno);
        }

        [LibraryImport("libc", EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int RenameNative(string from, string to);

        /// <summary>
        /// rename(2), replacing what <paramref name="to"/> names (how every store object gets its
        /// final name): File.Move adds an lstat of the source first, one syscall more per object.
        /// </summary>
        public static void Rename(string from, string to)
        {
            if (RenameNative(from, to) == 0)
                return;
            throw ErrorFor(Marshal.GetLastPInvokeError(), $"cannot rename '{from}' to '{to}'");
        }

        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        private static partial int FSync(int fd);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        private static partial int Close(int fd);

        private const int AT_FDCWD = -100;
        private const int AT_SYMLINK_NOFOLLOW = 0x100;
        private const uint STATX_TYPE = 0x1;
        private const uint STATX_MODE = 0x2;
        private const uint STATX_SIZE = 0x200;

        // statx rather than lstat: struct statx has one layout on every architecture.
        [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int Statx(int dirfd, string path, int flags, uint mask, out StatxBuffer buffer);

        /// <summary>The leading fields of <c>struct statx</c> (256 bytes in all).</summary>
        [StructLayout(LayoutKind.Explicit, Size = 256)]
        private struct StatxBuffer
        {
            [FieldOffset(0)] public uint Mask;
            [FieldOffset(28)] public ushort Mode;
            [FieldOffset(40)] public ulong Size;
        }

        /// <summary>lstat: the type and mode bits (<c>st_mode</c>) and size of a path, not following a final symlink.</summary>
        public static (uint Mode, long Size) LStat(string path)
        {
            if (Statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MODE | STATX_SIZE, out StatxBuffer buffer) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                string message = Marshal.GetPInvokeErrorMessage(errno);
                throw errno switch
                {
                    2 or 20 => new FileNotFoundException(message, path), // ENOENT, ENOTDIR
                    13 => new UnauthorizedAccessException(message),      // EACCES
                    _ => new IOException(message, errno),
                };
            }
            return (buffer.Mode, (long)buffer.Size);
        }

        public const uint S_IFMT = 0xF000;
        public const uint S_IFREG = 0x8000;
        public const uint S_IFDIR = 0x4000;
        public const uint S_IFLNK = 0xA000;
        public const uint S_IFIFO = 0x1000;
        public const uint S_IFSOCK = 0xC000;
        public const uint S_IFCHR = 0x2000;
        public const uint S_IFBLK = 0x6000;
        public const uint S_IXUSR = 0x40;

        /// <summary>
        /// Opens a store file for reading with one open(2), or null when it does not exist.
        /// File.OpenHandle adds two fstats and a shared flock with its unlock at close: five
        /// syscalls more on every blob a mount or the daemon opens, and a store object never
        /// changes, so the lock protects nothing.
        /// </summary>
        public static Microsoft.Win32.SafeHandles.SafeFileHandle? OpenReadOnly(string path)
        {
            int fd = Open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0)
                return new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
            int errno = Marshal.GetLastPInvokeError();
            string message = $"cannot open '{path}': {Marshal.GetPInvokeErrorMessage(errno)}";
            return errno switch
            {
                2 or 20 => null, // ENOENT, ENOTDIR
                13 => throw new UnauthorizedAccessException(message), // EACCES
                _ => throw new IOException(message, errno),
            };
        }

        /// <summary>Makes the entries of <paramref name="directory"/> (a rename into it) durable.</summary>
        public static void FSyncDirectory(string directory) => FSyncPath(directory);

        /// <summary>Makes a file's bytes, or a directory's entries, durable: any descriptor of the inode will do.</summary>
        public static void FSyncPath(string path)
        {
            int fd = Open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                throw new IOException($"cannot open '{path}' to fsync it: {Marshal.GetLastPInvokeErrorMessage()}");
            try
            {
                if (FSync(fd) < 0)
                    throw new IOException($"cannot fsync '{path}': {Marshal.GetLastPInvokeErrorMessage()}");
            }
            finally
            {
                Close(fd);
            }
        }
    }
}
