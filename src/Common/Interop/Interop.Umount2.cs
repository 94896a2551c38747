using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int MNT_DETACH = 2;

        /// <summary><c>int umount2(const char *target, int flags)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "umount2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int Umount2(string target, int flags);
    }
}
