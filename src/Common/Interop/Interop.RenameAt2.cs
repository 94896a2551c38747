using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>Fail with EEXIST instead of replacing the target: a create-if-absent that is one atomic step.</summary>
        internal const uint RENAME_NOREPLACE = 1;

        /// <summary>
        /// <c>int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)</c>
        /// (glibc 2.28+): rename(2) with flags; EINVAL where the file system does not support a flag.
        /// </summary>
        [LibraryImport(Library, EntryPoint = "renameat2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);
    }
}
