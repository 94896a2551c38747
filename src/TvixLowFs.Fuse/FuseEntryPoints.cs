using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// The [UnmanagedCallersOnly] targets of <see cref="FuseLowLevelOps"/>. Each finds the session's
/// <see cref="IFuseOperations"/> through the userdata GCHandle (no allocation), turns C strings into
/// spans and calls the handler. An exception that escapes a handler is logged through
/// <see cref="FuseDiagnostics"/> and, unless the same thread already answered this request through
/// <see cref="KernelReplySink"/>, answered with EIO so the kernel never waits forever; the answer
/// comes before the description, and a failure that cannot be described (out of memory) is
/// still answered.
/// </summary>
internal static unsafe class FuseEntryPoints
{
    /// <summary>The last request this thread answered through KernelReplySink (guards against a double reply).</summary>
    [ThreadStatic] internal static nint LastAnsweredRequest;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static IFuseOperations OperationsOf(nint userData) =>
        Unsafe.As<IFuseOperations>(GCHandle.FromIntPtr(userData).Target!);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static IFuseOperations OperationsFor(nint request)
    {
        LastAnsweredRequest = 0;
        return OperationsOf(LibFuse.RequestUserData(request));
    }

    private static ReadOnlySpan<byte> Name(byte* name) => MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name);

    // The last-resort catches below run when a handler has thrown, maybe because memory ran out:
    // each answers first, with nothing before the reply that allocates or formats, and describes
    // the failure only afterwards, inside its own catch, so nothing can escape the
    // [UnmanagedCallersOnly] frame (which would end the process).

    private static void Fail(nint request, string operation, Exception exception)
    {
        if (LastAnsweredRequest != request)
            LibFuse.ReplyErr(request, Interop.Errno.EIO);
        Report(operation, exception, "; answered EIO");
    }

    private static void FailWithoutReply(nint request, string operation, Exception exception)
    {
        if (request != 0 && LastAnsweredRequest != request)
            LibFuse.ReplyNone(request);
        Report(operation, exception, "");
    }

    /// <summary>Describes a handler's failure; never throws (a failure that cannot be described is reported without its message).</summary>
    private static void Report(string operation, Exception exception, string consequence)
    {
        try
        {
            FuseDiagnostics.Report($"fuse {operation}: handler threw {exception.GetType().Name}: {exception.Message}{consequence}");
        }
        catch (Exception)
        {
            try
            {
                FuseDiagnostics.Report("fuse " + operation + ": handler threw an exception that could not be described" + consequence);
            }
            catch (Exception)
            {
                // Nothing more can be done without memory; the request has its answer.
            }
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Init(nint userData, FuseConnInfo* connection)
    {
        try { OperationsOf(userData).Init(connection); }
        catch (Exception e) { Report("init", e, ""); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Lookup(nint req, ulong parent, byte* name)
    {
        try { OperationsFor(req).Lookup(new FuseRequest(req), parent, Name(name)); }
        catch (Exception e) { Fail(req, "lookup", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Forget(nint req, ulong inode, ulong lookupCount)
    {
        try { OperationsFor(req).Forget(new FuseRequest(req), inode, lookupCount); }
        catch (Exception e) { FailWithoutReply(req, "forget", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void ForgetMulti(nint req, nuint count, FuseForgetData* forgets)
    {
        try { OperationsFor(req).ForgetMulti(new FuseRequest(req), new ReadOnlySpan<FuseForgetData>(forgets, checked((int)count))); }
        catch (Exception e) { FailWithoutReply(req, "forget_multi", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void GetAttr(nint req, ulong inode, FuseFileInfo* fileInfo)
    {
        try { OperationsFor(req).GetAttr(new FuseRequest(req), inode, fileInfo); }
        catch (Exception e) { Fail(req, "getattr", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void ReadLink(nint req, ulong inode)
    {
        try { OperationsFor(req).ReadLink(new FuseRequest(req), inode); }
        catch (Exception e) { Fail(req, "readlink", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Open(nint req, ulong inode, FuseFileInfo* fileInfo)
    {
        try { OperationsFor(req).Open(new FuseRequest(req), inode, fileInfo); }
        catch (Exception e) { Fail(req, "open", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Read(nint req, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo)
    {
        try { OperationsFor(req).Read(new FuseRequest(req), inode, size, offset, fileInfo); }
        catch (Exception e) { Fail(req, "read", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Release(nint req, ulong inode, FuseFileInfo* fileInfo)
    {
        try { OperationsFor(req).Release(new FuseRequest(req), inode, fileInfo); }
        catch (Exception e) { Fail(req, "release", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void OpenDir(nint req, ulong inode, FuseFileInfo* fileInfo)
    {
        try { OperationsFor(req).OpenDir(new FuseRequest(req), inode, fileInfo); }
        catch (Exception e) { Fail(req, "opendir", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void ReadDir(nint req, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo)
    {
        try { OperationsFor(req).ReadDir(new FuseRequest(req), inode, size, offset, fileInfo); }
        catch (Exception e) { Fail(req, "readdir", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void ReadDirPlus(nint req, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo)
    {
        try { OperationsFor(req).ReadDirPlus(new FuseRequest(req), inode, size, offset, fileInfo); }
        catch (Exception e) { Fail(req, "readdirplus", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void ReleaseDir(nint req, ulong inode, FuseFileInfo* fileInfo)
    {
        try { OperationsFor(req).ReleaseDir(new FuseRequest(req), inode, fileInfo); }
        catch (Exception e) { Fail(req, "releasedir", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void StatFs(nint req, ulong inode)
    {
        try { OperationsFor(req).StatFs(new FuseRequest(req), inode); }
        catch (Exception e) { Fail(req, "statfs", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void GetXattr(nint req, ulong inode, byte* name, nuint size)
    {
        try { OperationsFor(req).GetXattr(new FuseRequest(req), inode, Name(name), size); }
        catch (Exception e) { Fail(req, "getxattr", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void ListXattr(nint req, ulong inode, nuint size)
    {
        try { OperationsFor(req).ListXattr(new FuseRequest(req), inode, size); }
        catch (Exception e) { Fail(req, "listxattr", e); }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Access(nint req, ulong inode, int mask)
    {
        try { OperationsFor(req).Access(new FuseRequest(req), inode, mask); }
        catch (Exception e) { Fail(req, "access", e); }
    }

    // Write-type operations: all routed to Modify; the arguments are not needed to refuse them.

    private static void Modify(nint req, FuseModifyOperation operation)
    {
        try { OperationsFor(req).Modify(new FuseRequest(req), operation); }
        catch (Exception e) { Fail(req, ModifyName(operation), e); }
    }

    /// <summary>The operation's name without formatting (a constant per value).</summary>
    private static string ModifyName(FuseModifyOperation operation) => operation switch
    {
        FuseModifyOperation.SetAttr => "setattr",
        FuseModifyOperation.MkNod => "mknod",
        FuseModifyOperation.MkDir => "mkdir",
        FuseModifyOperation.Unlink => "unlink",
        FuseModifyOperation.RmDir => "rmdir",
        FuseModifyOperation.Symlink => "symlink",
        FuseModifyOperation.Rename => "rename",
        FuseModifyOperation.Link => "link",
        FuseModifyOperation.Write => "write",
        FuseModifyOperation.WriteBuf => "write_buf",
        FuseModifyOperation.Create => "create",
        FuseModifyOperation.SetXattr => "setxattr",
        FuseModifyOperation.RemoveXattr => "removexattr",
        FuseModifyOperation.Fallocate => "fallocate",
        FuseModifyOperation.CopyFileRange => "copy_file_range",
        FuseModifyOperation.Fsync => "fsync",
        FuseModifyOperation.FsyncDir => "fsyncdir",
        _ => "write-type operation",
    };

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void SetAttr(nint req, ulong inode, Stat* attr, int toSet, FuseFileInfo* fileInfo) => Modify(req, FuseModifyOperation.SetAttr);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void MkNod(nint req, ulong parent, byte* name, uint mode, ulong device) => Modify(req, FuseModifyOperation.MkNod);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void MkDir(nint req, ulong parent, byte* name, uint mode) => Modify(req, FuseModifyOperation.MkDir);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Unlink(nint req, ulong parent, byte* name) => Modify(req, FuseModifyOperation.Unlink);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void RmDir(nint req, ulong parent, byte* name) => Modify(req, FuseModifyOperation.RmDir);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Symlink(nint req, byte* link, ulong parent, byte* name) => Modify(req, FuseModifyOperation.Symlink);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Rename(nint req, ulong parent, byte* name, ulong newParent, byte* newName, uint flags) => Modify(req, FuseModifyOperation.Rename);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Link(nint req, ulong inode, ulong newParent, byte* newName) => Modify(req, FuseModifyOperation.Link);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Write(nint req, ulong inode, byte* buffer, nuint size, long offset, FuseFileInfo* fileInfo) => Modify(req, FuseModifyOperation.Write);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Fsync(nint req, ulong inode, int dataSync, FuseFileInfo* fileInfo) => Modify(req, FuseModifyOperation.Fsync);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void FsyncDir(nint req, ulong inode, int dataSync, FuseFileInfo* fileInfo) => Modify(req, FuseModifyOperation.FsyncDir);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void SetXattr(nint req, ulong inode, byte* name, byte* value, nuint size, int flags) => Modify(req, FuseModifyOperation.SetXattr);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void RemoveXattr(nint req, ulong inode, byte* name) => Modify(req, FuseModifyOperation.RemoveXattr);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Create(nint req, ulong parent, byte* name, uint mode, FuseFileInfo* fileInfo) => Modify(req, FuseModifyOperation.Create);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void WriteBuf(nint req, ulong inode, FuseBufVec* buffers, long offset, FuseFileInfo* fileInfo) => Modify(req, FuseModifyOperation.WriteBuf);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void Fallocate(nint req, ulong inode, int mode, long offset, long length, FuseFileInfo* fileInfo) => Modify(req, FuseModifyOperation.Fallocate);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    internal static void CopyFileRange(nint req, ulong inodeIn, long offsetIn, FuseFileInfo* fileInfoIn, ulong inodeOut, long offsetOut, FuseFileInfo* fileInfoOut, nuint length, int flags) => Modify(req, FuseModifyOperation.CopyFileRange);
}
