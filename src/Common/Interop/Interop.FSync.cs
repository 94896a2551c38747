using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>int fsync(int fd)</c>: works on a directory's descriptor too, which .NET cannot open as a file.</summary>
        [LibraryImport(Library, EntryPoint = "fsync", SetLastError = true)]
        internal static partial int FSync(SafeFileHandle fd);
    }
}
