using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace TvixLowFs.Store.Grpc.Server;

internal static partial class Interop
{
    /// <summary>posix_fadvise, which .NET does not expose: a blob read is announced ahead so the disk works while we send.</summary>
    internal static partial class Fadvise
    {
        private const int POSIX_FADV_WILLNEED = 3;

        [LibraryImport("libc", EntryPoint = "posix_fadvise")]
        private static partial int PosixFadvise(SafeFileHandle fd, long offset, long length, int advice);

        /// <summary>Starts reading [offset, offset+length) into the page cache without waiting for it. Best effort.</summary>
        public static void WillNeed(SafeFileHandle file, long offset, long length) => _ = PosixFadvise(file, offset, length, POSIX_FADV_WILLNEED);
    }
}
