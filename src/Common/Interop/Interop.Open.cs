using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int O_RDONLY = 0;
        internal const int O_RDWR = 2;
        internal const int O_CREAT = 0x40;
        internal const int O_EXCL = 0x80;
        internal const int O_TRUNC = 0x200;
        internal const int O_APPEND = 0x400;
        internal const int O_NONBLOCK = 0x800;
        internal const int O_CLOEXEC = 0x80000;
        internal const int O_ACCMODE = 3;

        /// <summary>
        /// <c>int open(const char *path, int flags, mode_t mode)</c>; the handle is invalid on failure
        /// (the errno is the last P/Invoke error). File.OpenHandle adds two fstats and a flock.
        /// </summary>
        [LibraryImport(Library, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial SafeFileHandle Open(string path, int flags, int mode);
    }
}
