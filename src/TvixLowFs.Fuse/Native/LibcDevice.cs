using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// The libc calls the /dev/fuse device I/O makes itself (FuseDeviceIo) and the passthrough ioctls.
internal static unsafe partial class LibcDevice
{
    private const string Library = "libc";

    /// <summary><c>ssize_t read(int fd, void *buf, size_t count)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(int fd, void* buffer, nuint count);

    /// <summary><c>ssize_t writev(int fd, const struct iovec *iov, int iovcnt)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "writev", SetLastError = true)]
    internal static partial nint Writev(int fd, IoVec* vectors, int count);

    /// <summary><c>ssize_t splice(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len, unsigned int flags)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "splice", SetLastError = true)]
    internal static partial nint Splice(int fdIn, long* offsetIn, int fdOut, long* offsetOut, nuint length, uint flags);

    /// <summary><c>int ioctl(int fd, unsigned long request, void *argp)</c> (the pointer form).</summary>
    [LibraryImport(Library, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(int fd, nuint request, void* argument);
}
