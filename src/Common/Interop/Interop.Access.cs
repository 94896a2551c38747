using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int F_OK = 0;

        /// <summary><c>int access(const char *path, int mode)</c>: one syscall, where File.Exists makes a stat and, on a miss, an lstat.</summary>
        [LibraryImport(Library, EntryPoint = "access", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int Access(string path, int mode);
    }
}
