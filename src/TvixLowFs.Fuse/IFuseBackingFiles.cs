using Microsoft.Win32.SafeHandles;

namespace TvixLowFs.Fuse;

/// <summary>
/// Kernel passthrough (FUSE_PASSTHROUGH, Linux 6.9): a file registered as a backing file can be
/// named in an open reply (<see cref="IFuseReplySink.OpenPassthrough"/>), and the kernel then
/// serves that open file's reads and mmap from the backing file itself, with no request to us.
/// <see cref="FuseBackingFiles"/> is the real one, bound to a mounted session.
/// </summary>
public interface IFuseBackingFiles
{
    /// <summary>Whether the kernel accepted passthrough for the session (known once INIT has been answered).</summary>
    bool Enabled { get; }

    /// <summary>Registers <paramref name="file"/> (an open regular file); returns its backing id (&gt; 0) or -errno.</summary>
    int Open(SafeFileHandle file);

    /// <summary>Forgets a backing id; open files already using it keep their backing file.</summary>
    void Close(int backingId);
}
