internal static partial class Interop
{
    /// <summary>
    /// The Linux errno values this code answers with or tests for: the one table, checked against
    /// &lt;errno.h&gt; by tests/TvixLowFs.Tests/Interop/LibcLayoutTests (native/libc_layout_probe.c).
    /// </summary>
    internal static class Errno
    {
        public const int EPERM = 1;
        public const int ENOENT = 2;
        public const int EINTR = 4;
        public const int EIO = 5;
        public const int EBADF = 9;
        public const int EAGAIN = 11;
        public const int EACCES = 13;
        public const int EEXIST = 17;
        public const int ENODEV = 19;
        public const int ENOTDIR = 20;
        public const int EISDIR = 21;
        public const int EINVAL = 22;
        public const int ENOTTY = 25;
        public const int EROFS = 30;
        public const int ERANGE = 34;
        public const int ENOSYS = 38;
        public const int ELOOP = 40;
        public const int ENODATA = 61;
        public const int EOPNOTSUPP = 95;
        public const int ENOTCONN = 107;
    }
}
