using System.Runtime.InteropServices;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// An exception that cannot be described: reading its message throws, as formatting one does when
/// memory has run out. Used to check that the binding's last-resort catch still answers.
/// </summary>
internal sealed class UnformattableException : Exception
{
    public override string Message => throw new OutOfMemoryException("formatting the failure ran out of memory");

    public override string ToString() => throw new OutOfMemoryException("formatting the failure ran out of memory");
}

/// <summary>
/// A test double filesystem whose failing handlers throw <see cref="UnformattableException"/>:
/// the root (1) answers getattr and opendir; looking up "boom" throws, as does every write-type
/// request (a read-write mount lets mkdir through to it). Everything else is ENOENT.
/// </summary>
internal sealed unsafe class UnformattableFailureFilesystemDouble : IFuseOperations
{
    public const int ENOENT = 2;

    private readonly IFuseReplySink _reply = KernelReplySink.Instance;

    public int Failures;

    private static Stat Root => new() { Ino = 1, Mode = 0x4000 | 0x1ed, Nlink = 2, Blksize = 4096 };

    private Exception Fail()
    {
        Interlocked.Increment(ref Failures);
        return new UnformattableException();
    }

    public void Init(FuseConnInfo* connection) { }
    public void Destroy() { }

    public void Lookup(FuseRequest request, ulong parent, ReadOnlySpan<byte> name)
    {
        if (name.SequenceEqual("boom"u8))
            throw Fail();
        _reply.Err(request, ENOENT);
    }

    public void Forget(FuseRequest request, ulong inode, ulong lookupCount) => _reply.None(request);
    public void ForgetMulti(FuseRequest request, ReadOnlySpan<FuseForgetData> forgets) => _reply.None(request);

    public void GetAttr(FuseRequest request, ulong inode, FuseFileInfo* fileInfo)
    {
        if (inode == 1)
            _reply.Attr(request, Root, 1);
        else
            _reply.Err(request, ENOENT);
    }

    public void ReadLink(FuseRequest request, ulong inode) => _reply.Err(request, ENOENT);
    public void Open(FuseRequest request, ulong inode, FuseFileInfo* fileInfo) => _reply.Err(request, ENOENT);
    public void Read(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo) => _reply.Err(request, ENOENT);
    public void Release(FuseRequest request, ulong inode, FuseFileInfo* fileInfo) => _reply.Err(request, 0);
    public void OpenDir(FuseRequest request, ulong inode, FuseFileInfo* fileInfo) => _reply.Open(request, *fileInfo);
    public void ReadDir(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo) => _reply.Buf(request, default);
    public void ReadDirPlus(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo) => _reply.Buf(request, default);
    public void ReleaseDir(FuseRequest request, ulong inode, FuseFileInfo* fileInfo) => _reply.Err(request, 0);
    public void StatFs(FuseRequest request, ulong inode) => _reply.StatFs(request, default(StatVfs));
    public void GetXattr(FuseRequest request, ulong inode, ReadOnlySpan<byte> name, nuint size) => _reply.Err(request, 61);
    public void ListXattr(FuseRequest request, ulong inode, nuint size) => _reply.Xattr(request, 0);
    public void Access(FuseRequest request, ulong inode, int mask) => _reply.Err(request, 0);
    public void Modify(FuseRequest request, FuseModifyOperation operation) => throw Fail();
}
