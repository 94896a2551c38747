using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>int syncfs(int fd)</c>: writes out everything dirty on the file system holding <paramref name="fd"/>, and waits.</summary>
        [LibraryImport(Library, EntryPoint = "syncfs", SetLastError = true)]
        internal static partial int SyncFs(SafeFileHandle fd);
    }
}
