namespace TvixLowFs.Filesystem;

/// <summary>The Linux errno values this filesystem answers with.</summary>
internal static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EIO = 5;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int EINVAL = 22;
    public const int EROFS = 30;
    public const int ERANGE = 34;
    public const int ELOOP = 40;
    public const int ENODATA = 61;
}

/// <summary>The open(2) flag bits that ask for write access.</summary>
internal static class OpenFlags
{
    public const int AccessModeMask = 3; // O_ACCMODE; O_RDONLY is 0
    public const int Create = 0x40;      // O_CREAT
    public const int Truncate = 0x200;   // O_TRUNC
    public const int Append = 0x400;     // O_APPEND

    public static bool WantsWrite(int flags) =>
        (flags & AccessModeMask) != 0 || (flags & (Create | Truncate | Append)) != 0;
}

/// <summary>st_mode file type bits.</summary>
internal static class FileType
{
    public const uint Directory = 0x4000; // S_IFDIR
    public const uint Regular = 0x8000;   // S_IFREG
    public const uint Symlink = 0xA000;   // S_IFLNK
}
