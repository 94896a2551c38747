using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int EFD_CLOEXEC = 0x80000;

        /// <summary><c>int eventfd(unsigned int initval, int flags)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "eventfd", SetLastError = true)]
        internal static partial int EventFd(uint initialValue, int flags);
    }
}
