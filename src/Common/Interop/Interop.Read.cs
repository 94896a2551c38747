using System.Runtime.InteropServices;

internal static unsafe partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>ssize_t read(int fd, void *buf, size_t count)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "read", SetLastError = true)]
        internal static partial nint Read(int fd, void* buffer, nuint count);
    }
}
