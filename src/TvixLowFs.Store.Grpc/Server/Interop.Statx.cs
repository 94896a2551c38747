using System.Runtime.InteropServices;

namespace TvixLowFs.Store.Grpc.Server;

internal static partial class Interop
{
    /// <summary>
    /// The file type of a path, which .NET does not expose: the daemon only replaces a stale
    /// unix socket, never a regular file someone put at the listen path. statx has one layout
    /// on every architecture (unlike struct stat).
    /// </summary>
    internal static unsafe partial class Statx
    {
        private const int AT_FDCWD = -100;
        private const int AT_SYMLINK_NOFOLLOW = 0x100;
        private const uint STATX_TYPE = 0x1;
        private const ushort S_IFMT = 0xF000;
        private const ushort S_IFSOCK = 0xC000;

        /// <summary>struct statx is 256 bytes; stx_mode is the u16 at offset 28.</summary>
        [StructLayout(LayoutKind.Sequential, Size = 256)]
        private struct StatxBuffer
        {
            public uint Mask;
            public uint BlockSize;
            public ulong Attributes;
            public uint LinkCount;
            public uint Uid;
            public uint Gid;
            public ushort Mode;
        }

        [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int StatxCall(int dirfd, string path, int flags, uint mask, StatxBuffer* buffer);

        /// <summary>True when <paramref name="path"/> itself (not a symlink target) is a unix socket.</summary>
        public static bool IsSocket(string path)
        {
            StatxBuffer buffer;
            if (StatxCall(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &buffer) != 0)
                throw new IOException($"cannot stat '{path}': {Marshal.GetLastPInvokeErrorMessage()}");
            return (buffer.Mode & S_IFMT) == S_IFSOCK;
        }
    }
}
