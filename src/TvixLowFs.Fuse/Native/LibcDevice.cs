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

    /// <summary><c>int poll(struct pollfd *fds, nfds_t nfds, int timeout)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "poll", SetLastError = true)]
    internal static partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    /// <summary><c>int eventfd(unsigned int initval, int flags)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "eventfd", SetLastError = true)]
    internal static partial int EventFd(uint initialValue, int flags);

    /// <summary><c>ssize_t write(int fd, const void *buf, size_t count)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "write", SetLastError = true)]
    internal static partial nint Write(int fd, void* buffer, nuint count);

    /// <summary><c>int close(int fd)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    /// <summary><c>int fcntl(int fd, int cmd, int arg)</c> (the int-argument form: F_GETFL, F_SETFL).</summary>
    [LibraryImport(Library, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int command, int argument);

    /// <summary><c>int pthread_setcancelstate(int state, int *oldstate)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "pthread_setcancelstate")]
    internal static partial int PthreadSetCancelState(int state, int* oldState);

    internal const int EINTR = 4, EIO = 5, EAGAIN = 11;
    internal const int F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0x800;
    internal const int EFD_CLOEXEC = 0x80000;
    internal const short POLLIN = 1;
    internal const int PTHREAD_CANCEL_ENABLE = 0, PTHREAD_CANCEL_DISABLE = 1;
}

/// <summary><c>struct pollfd</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    public int Fd;
    public short Events;
    public short ReturnedEvents;
}
