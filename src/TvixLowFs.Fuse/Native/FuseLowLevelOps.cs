using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

/// <summary>
/// <c>struct fuse_lowlevel_ops</c> of libfuse 3.14 with FUSE_USE_VERSION 314: 42 function
/// pointers, field i at offset 8*i (checked against native/fuse_layout_probe). The order is the
/// ABI; do not sort. A null field makes libfuse answer ENOSYS (or a default for some ops).
/// Types: fuse_req_t = nint, fuse_ino_t = ulong, off_t = long, size_t = nuint, mode_t = uint,
/// dev_t = ulong, const char* = byte* (NUL-terminated), opaque pointers = nint.
/// Filled in exactly one place: <see cref="FuseOperationTable"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseLowLevelOps
{
    public delegate* unmanaged[Cdecl]<nint, FuseConnInfo*, void> Init;
    public delegate* unmanaged[Cdecl]<nint, void> Destroy;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, void> Lookup;
    public delegate* unmanaged[Cdecl]<nint, ulong, ulong, void> Forget;
    public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, void> GetAttr;
    public delegate* unmanaged[Cdecl]<nint, ulong, Stat*, int, FuseFileInfo*, void> SetAttr;
    public delegate* unmanaged[Cdecl]<nint, ulong, void> ReadLink;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, uint, ulong, void> MkNod;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, uint, void> MkDir;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, void> Unlink;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, void> RmDir;
    public delegate* unmanaged[Cdecl]<nint, byte*, ulong, byte*, void> Symlink;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, ulong, byte*, uint, void> Rename;
    public delegate* unmanaged[Cdecl]<nint, ulong, ulong, byte*, void> Link;
    public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, void> Open;
    public delegate* unmanaged[Cdecl]<nint, ulong, nuint, long, FuseFileInfo*, void> Read;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, nuint, long, FuseFileInfo*, void> Write;
    public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, void> Flush;
    public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, void> Release;
    public delegate* unmanaged[Cdecl]<nint, ulong, int, FuseFileInfo*, void> Fsync;
    public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, void> OpenDir;
    public delegate* unmanaged[Cdecl]<nint, ulong, nuint, long, FuseFileInfo*, void> ReadDir;
    public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, void> ReleaseDir;
    public delegate* unmanaged[Cdecl]<nint, ulong, int, FuseFileInfo*, void> FsyncDir;
    public delegate* unmanaged[Cdecl]<nint, ulong, void> StatFs;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, byte*, nuint, int, void> SetXattr;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, nuint, void> GetXattr;
    public delegate* unmanaged[Cdecl]<nint, ulong, nuint, void> ListXattr;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, void> RemoveXattr;
    public delegate* unmanaged[Cdecl]<nint, ulong, int, void> Access;
    public delegate* unmanaged[Cdecl]<nint, ulong, byte*, uint, FuseFileInfo*, void> Create;
    /// <summary>getlk(req, ino, fi, struct flock*).</summary>
    public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, nint, void> GetLk;
    /// <summary>setlk(req, ino, fi, struct flock*, int sleep).</summary>
    public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, nint, int, void> SetLk;
    public delegate* unmanaged[Cdecl]<nint, ulong, nuint, ulong, void> Bmap;
    /// <summary>The FUSE_USE_VERSION >= 35 form: unsigned int cmd.</summary>
    public delegate* unmanaged[Cdecl]<nint, ulong, uint, nint, FuseFileInfo*, uint, nint, nuint, nuint, void> Ioctl;
    /// <summary>poll(req, ino, fi, struct fuse_pollhandle*).</summary>
    public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, nint, void> Poll;
    public delegate* unmanaged[Cdecl]<nint, ulong, FuseBufVec*, long, FuseFileInfo*, void> WriteBuf;
    /// <summary>retrieve_reply(req, void *cookie, ino, off, bufv).</summary>
    public delegate* unmanaged[Cdecl]<nint, nint, ulong, long, FuseBufVec*, void> RetrieveReply;
    public delegate* unmanaged[Cdecl]<nint, nuint, FuseForgetData*, void> ForgetMulti;
    public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, int, void> Flock;
    public delegate* unmanaged[Cdecl]<nint, ulong, int, long, long, FuseFileInfo*, void> Fallocate;
    public delegate* unmanaged[Cdecl]<nint, ulong, nuint, long, FuseFileInfo*, void> ReadDirPlus;
    public delegate* unmanaged[Cdecl]<nint, ulong, long, FuseFileInfo*, ulong, long, FuseFileInfo*, nuint, int, void> CopyFileRange;
    public delegate* unmanaged[Cdecl]<nint, ulong, long, int, FuseFileInfo*, void> Lseek;

    /// <summary>The number of members of the 3.14 struct.</summary>
    public const int MemberCount = 44;
}
