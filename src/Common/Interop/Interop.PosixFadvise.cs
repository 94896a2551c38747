using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int POSIX_FADV_WILLNEED = 3;

        /// <summary>
        /// <c>int posix_fadvise(int fd, off_t offset, off_t len, int advice)</c>, which .NET does not
        /// expose; returns the error number itself (not errno). A handle disposed meanwhile throws
        /// ObjectDisposedException from the marshaller.
        /// </summary>
        [LibraryImport(Library, EntryPoint = "posix_fadvise")]
        internal static partial int PosixFadvise(SafeFileHandle fd, long offset, long length, int advice);
    }
}
