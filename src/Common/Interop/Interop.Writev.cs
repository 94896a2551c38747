using System.Runtime.InteropServices;

internal static unsafe partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>ssize_t writev(int fd, const struct iovec *iov, int iovcnt)</c>. The vectors are the
        /// caller's <c>struct iovec</c> mirror (the FUSE binding's public IoVec, which fuse_reply_iov takes too).
        /// </summary>
        [LibraryImport(Library, EntryPoint = "writev", SetLastError = true)]
        internal static partial nint Writev(int fd, void* vectors, int count);
    }
}
