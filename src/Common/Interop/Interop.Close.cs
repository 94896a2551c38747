using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>int close(int fd)</c>, for descriptors no SafeHandle owns (an eventfd libfuse's loop shares).</summary>
        [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
        internal static partial int Close(int fd);
    }
}
