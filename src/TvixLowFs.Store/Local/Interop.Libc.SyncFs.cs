using System.Runtime.InteropServices;

namespace TvixLowFs.Store;

internal static partial class Interop
{
    internal static partial class Libc
    {
        [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
        private static partial int SyncFs(int fd);

        /// <summary>
        /// Writes out everything dirty on the file system holding <paramref name="directory"/> and waits:
        /// one call makes a whole batch of files durable, where an fsync each would commit the journal per file.
        /// </summary>
        public static void SyncFileSystemOf(string directory)
        {
            int fd = Open(directory, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                throw new IOException($"cannot open directory '{directory}' to sync its file system: {Marshal.GetLastPInvokeErrorMessage()}");
            try
            {
                if (SyncFs(fd) < 0)
                    throw new IOException($"cannot sync the file system of '{directory}': {Marshal.GetLastPInvokeErrorMessage()}");
            }
            finally
            {
                Close(fd);
            }
        }
    }
}
