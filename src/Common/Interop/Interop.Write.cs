using System.Runtime.InteropServices;

internal static unsafe partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>ssize_t write(int fd, const void *buf, size_t count)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "write", SetLastError = true)]
        internal static partial nint Write(int fd, void* buffer, nuint count);
    }
}
