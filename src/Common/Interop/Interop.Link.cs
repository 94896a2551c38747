using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>int link(const char *oldpath, const char *newpath)</c>: EEXIST when the new name exists,
        /// atomically on every POSIX file system (the store's fallback where renameat2 flags are refused).
        /// </summary>
        [LibraryImport(Library, EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int Link(string oldPath, string newPath);
    }
}
