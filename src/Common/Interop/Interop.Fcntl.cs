using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int F_GETFL = 3;
        internal const int F_SETFL = 4;

        /// <summary><c>int fcntl(int fd, int cmd, int arg)</c> (the int-argument form: F_GETFL, F_SETFL).</summary>
        [LibraryImport(Library, EntryPoint = "fcntl", SetLastError = true)]
        internal static partial int Fcntl(int fd, int command, int argument);
    }
}
