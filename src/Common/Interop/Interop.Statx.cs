using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int AT_FDCWD = -100;
        internal const int AT_SYMLINK_NOFOLLOW = 0x100;
        internal const uint STATX_TYPE = 0x1;
        internal const uint STATX_MODE = 0x2;
        internal const uint STATX_SIZE = 0x200;

        internal const uint S_IFMT = 0xF000;
        internal const uint S_IFSOCK = 0xC000;
        internal const uint S_IFLNK = 0xA000;
        internal const uint S_IFREG = 0x8000;
        internal const uint S_IFBLK = 0x6000;
        internal const uint S_IFDIR = 0x4000;
        internal const uint S_IFCHR = 0x2000;
        internal const uint S_IFIFO = 0x1000;
        internal const uint S_IXUSR = 0x40;

        /// <summary>
        /// The leading fields of <c>struct statx</c> (256 bytes in all; one layout on every
        /// architecture, unlike struct stat). Checked against &lt;linux/stat.h&gt; by
        /// tests/TvixLowFs.Tests/Interop/LibcLayoutTests (native/libc_layout_probe.c).
        /// </summary>
        [StructLayout(LayoutKind.Explicit, Size = 256)]
        internal struct StatxBuffer
        {
            [FieldOffset(0)] public uint Mask;
            [FieldOffset(4)] public uint BlockSize;
            [FieldOffset(8)] public ulong Attributes;
            [FieldOffset(16)] public uint LinkCount;
            [FieldOffset(20)] public uint Uid;
            [FieldOffset(24)] public uint Gid;
            [FieldOffset(28)] public ushort Mode;
            [FieldOffset(32)] public ulong Inode;
            [FieldOffset(40)] public ulong Size;
        }

        /// <summary><c>int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int Statx(int dirfd, string path, int flags, uint mask, out StatxBuffer buffer);
    }
}
