using System.Runtime.InteropServices;

namespace TvixLowFs.Store.Local;

internal static partial class Interop
{
    /// <summary>
    /// The few libc calls .NET does not offer: a rename is only durable once the directory
    /// holding it is fsynced, and .NET cannot open a directory as a file.
    /// </summary>
    internal static partial class Libc
    {
        private const int O_RDONLY = 0;
        private const int O_CLOEXEC = 0x80000;

        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        private static partial int FSync(int fd);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        private static partial int Close(int fd);

        /// <summary>Makes the entries of <paramref name="directory"/> (a rename into it) durable.</summary>
        public static void FSyncDirectory(string directory)
        {
            int fd = Open(directory, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                throw new IOException($"cannot open directory '{directory}' to fsync it: {Marshal.GetLastPInvokeErrorMessage()}");
            try
            {
                if (FSync(fd) < 0)
                    throw new IOException($"cannot fsync directory '{directory}': {Marshal.GetLastPInvokeErrorMessage()}");
            }
            finally
            {
                Close(fd);
            }
        }
    }
}
