using System.Runtime.InteropServices;

internal static unsafe partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>int ioctl(int fd, unsigned long request, void *argp)</c> (the pointer form).</summary>
        [LibraryImport(Library, EntryPoint = "ioctl", SetLastError = true)]
        internal static partial int Ioctl(int fd, nuint request, void* argument);
    }
}
