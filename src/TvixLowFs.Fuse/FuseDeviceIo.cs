using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// The /dev/fuse reads, writes and splices of a session that offers passthrough, installed with
/// fuse_session_custom_io on the session's own descriptor. Each is the plain syscall, except that
/// the reply to INIT gains FUSE_PASSTHROUGH when the kernel offered it: libfuse 3.14 predates
/// passthrough (kernel 6.9) and has no way to ask for it. libfuse reads a request and answers it
/// on the same thread, so the INIT seen by <see cref="Read"/> is remembered per thread until its
/// reply passes through <see cref="Writev"/>. The splice callbacks are given so libfuse keeps
/// splicing (it turns splice off for custom I/O without them).
/// </summary>
internal static unsafe class FuseDeviceIo
{
    // By libfuse's userdata pointer; consulted only when an INIT arrives.
    private static readonly ConcurrentDictionary<nint, FuseBackingFiles> Sessions = new();

    [ThreadStatic] private static FuseBackingFiles? t_initSession;
    [ThreadStatic] private static ulong t_initUnique;

    public static void Install(nint session, nint userData, FuseBackingFiles backingFiles)
    {
        var io = new FuseCustomIo
        {
            Writev = &Writev,
            Read = &Read,
            SpliceReceive = &SpliceReceive,
            SpliceSend = &SpliceSend,
        };
        Sessions[userData] = backingFiles;
        int result = LibFuse.SessionCustomIo(session, &io, LibFuse.SessionFd(session));
        if (result != 0)
        {
            Sessions.TryRemove(userData, out _);
            throw new IOException($"fuse_session_custom_io failed ({result})");
        }
    }

    public static void Uninstall(nint userData) => Sessions.TryRemove(userData, out _);

    [UnmanagedCallersOnly]
    private static nint Read(int fd, void* buffer, nuint length, nint userData)
    {
        nint read = LibcDevice.Read(fd, buffer, length);
        if (read < 0)
            return FailedWithErrno();
        if (read >= sizeof(FuseInHeader) + sizeof(FuseInitIn) && ((FuseInHeader*)buffer)->Opcode == FuseKernel.OpcodeInit)
            NoteInit((FuseInHeader*)buffer, userData);
        return read;
    }

    private static void NoteInit(FuseInHeader* header, nint userData)
    {
        if (!Sessions.TryGetValue(userData, out FuseBackingFiles? backingFiles))
            return;
        var offer = (FuseInitIn*)(header + 1);
        bool offered = (offer->Flags & FuseKernel.InitExt) != 0 && (offer->Flags2 & FuseKernel.Flags2Passthrough) != 0;
        backingFiles.KernelOffered = offered;
        if (!offered)
            return;
        t_initSession = backingFiles;
        t_initUnique = header->Unique;
    }

    [UnmanagedCallersOnly]
    private static nint Writev(int fd, IoVec* vectors, int count, nint userData)
    {
        if (t_initSession is { } backingFiles && count == 2
            && vectors[0].Length >= (nuint)sizeof(FuseOutHeader) && ((FuseOutHeader*)vectors[0].Base)->Unique == t_initUnique)
        {
            t_initSession = null;
            if (((FuseOutHeader*)vectors[0].Base)->Error == 0 && vectors[1].Length == (nuint)sizeof(FuseInitOut))
                return WriteInitWithPassthrough(fd, vectors, backingFiles);
        }
        nint written = LibcDevice.Writev(fd, vectors, count);
        return written < 0 ? FailedWithErrno() : written;
    }

    private static nint WriteInitWithPassthrough(int fd, IoVec* vectors, FuseBackingFiles backingFiles)
    {
        FuseInitOut reply = *(FuseInitOut*)vectors[1].Base;
        reply.Flags |= FuseKernel.InitExt;
        reply.Flags2 |= FuseKernel.Flags2Passthrough;
        reply.MaxStackDepth = FuseKernel.PassthroughStackDepth;
        IoVec* patched = stackalloc IoVec[2];
        patched[0] = vectors[0];
        patched[1] = new IoVec { Base = &reply, Length = (nuint)sizeof(FuseInitOut) };
        nint written = LibcDevice.Writev(fd, patched, 2);
        if (written < 0)
            return FailedWithErrno();
        backingFiles.Enabled = true;
        return written;
    }

    [UnmanagedCallersOnly]
    private static nint SpliceReceive(int fdIn, long* offsetIn, int fdOut, long* offsetOut, nuint length, uint flags, nint userData)
    {
        nint spliced = LibcDevice.Splice(fdIn, offsetIn, fdOut, offsetOut, length, flags);
        return spliced < 0 ? FailedWithErrno() : spliced;
    }

    [UnmanagedCallersOnly]
    private static nint SpliceSend(int fdIn, long* offsetIn, int fdOut, long* offsetOut, nuint length, uint flags, nint userData)
    {
        nint spliced = LibcDevice.Splice(fdIn, offsetIn, fdOut, offsetOut, length, flags);
        return spliced < 0 ? FailedWithErrno() : spliced;
    }

    /// <summary>libfuse reads errno right after the call (ENODEV at unmount, EINTR, ENOENT): put it back last.</summary>
    private static nint FailedWithErrno()
    {
        Marshal.SetLastSystemError(Marshal.GetLastPInvokeError());
        return -1;
    }
}
