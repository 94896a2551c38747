// The errno table is the shared one (src/Common/Interop/Interop.Errno.cs); handlers write Errno.EIO.
global using Errno = Interop.Errno;

namespace TvixLowFs.Filesystem;

/// <summary>The open(2) flag bits that ask for write access.</summary>
internal static class OpenFlags
{
    public static bool WantsWrite(int flags) =>
        (flags & Interop.Libc.O_ACCMODE) != Interop.Libc.O_RDONLY
        || (flags & (Interop.Libc.O_CREAT | Interop.Libc.O_TRUNC | Interop.Libc.O_APPEND)) != 0;
}

/// <summary>st_mode file type bits.</summary>
internal static class FileType
{
    public const uint Directory = Interop.Libc.S_IFDIR;
    public const uint Regular = Interop.Libc.S_IFREG;
    public const uint Symlink = Interop.Libc.S_IFLNK;
}
