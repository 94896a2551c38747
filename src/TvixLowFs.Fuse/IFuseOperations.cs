using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// A low-level filesystem, one method per <c>fuse_lowlevel_ops</c> entry we register. The
/// binding's [UnmanagedCallersOnly] entry points call these with the kernel's arguments as
/// spans and pointers (names are NUL-free UTF-8 bytes, no marshalling). Every method that
/// receives a <see cref="FuseRequest"/> must answer it exactly once through the reply sink,
/// now or later from another thread; an exception escaping a method is answered with EIO by
/// the binding (and logged), so the request is never left unanswered.
/// </summary>
public unsafe interface IFuseOperations
{
    void Init(FuseConnInfo* connection);

    /// <summary>
    /// Called once when the session ends (<see cref="FuseSession.Dispose"/>, after the loop has
    /// stopped), while /dev/fuse is still open: replies made until it returns reach the kernel;
    /// after it returns the channel closes and no reply may be made.
    /// </summary>
    void Destroy();

    void Lookup(FuseRequest request, ulong parent, ReadOnlySpan<byte> name);
    void Forget(FuseRequest request, ulong inode, ulong lookupCount);
    void ForgetMulti(FuseRequest request, ReadOnlySpan<FuseForgetData> forgets);
    void GetAttr(FuseRequest request, ulong inode, FuseFileInfo* fileInfo);
    void ReadLink(FuseRequest request, ulong inode);

    void Open(FuseRequest request, ulong inode, FuseFileInfo* fileInfo);
    void Read(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo);
    void Release(FuseRequest request, ulong inode, FuseFileInfo* fileInfo);

    void OpenDir(FuseRequest request, ulong inode, FuseFileInfo* fileInfo);
    void ReadDir(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo);
    void ReadDirPlus(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo);
    void ReleaseDir(FuseRequest request, ulong inode, FuseFileInfo* fileInfo);

    void StatFs(FuseRequest request, ulong inode);
    void GetXattr(FuseRequest request, ulong inode, ReadOnlySpan<byte> name, nuint size);
    void ListXattr(FuseRequest request, ulong inode, nuint size);
    void Access(FuseRequest request, ulong inode, int mask);

    /// <summary>
    /// Every operation that would change the filesystem (setattr, mknod, mkdir, unlink, rmdir,
    /// symlink, rename, link, write, write_buf, create, setxattr, removexattr, fallocate,
    /// copy_file_range, fsync, fsyncdir, flush-on-write...). The binding routes each of them here.
    /// </summary>
    void Modify(FuseRequest request, FuseModifyOperation operation);
}

/// <summary>Which write-type operation the kernel sent (for logging; all are answered alike).</summary>
public enum FuseModifyOperation
{
    SetAttr, MkNod, MkDir, Unlink, RmDir, Symlink, Rename, Link, Write, WriteBuf, Create,
    SetXattr, RemoveXattr, Fallocate, CopyFileRange, Fsync, FsyncDir,
}
