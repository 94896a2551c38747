using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>int rename(const char *from, const char *to)</c>: File.Move adds an lstat of the source first.</summary>
        [LibraryImport(Library, EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int Rename(string from, string to);
    }
}
