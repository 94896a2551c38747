using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// The /dev/fuse reads and writes of a session that offers passthrough, installed with
/// fuse_session_custom_io on the session's own descriptor. Each is the plain syscall, except that:
/// <list type="bullet">
/// <item>the reply to INIT gains FUSE_PASSTHROUGH when the kernel offered it: libfuse 3.14 predates
/// passthrough (kernel 6.9) and has no way to ask for it. libfuse reads a request and answers it
/// on the same thread, so the INIT seen by <see cref="Read"/> is remembered per thread until its
/// reply passes through <see cref="Writev"/>;</item>
/// <item>an idle worker waits in poll(2) on the (non-blocking) device and the session's exit
/// event, with thread cancellation off. libfuse stops its workers with pthread_cancel, which must
/// not unwind through these managed frames; instead <see cref="DeviceSession.SignalExit"/> wakes
/// every waiting worker and each returns to libfuse, which sees the session has exited.</item>
/// </list>
/// splice_receive stays unset (libfuse then never splices requests in, which a read-only
/// filesystem does not want anyway); splice_send is the plain syscall, so replies still splice.
/// </summary>
internal static unsafe class FuseDeviceIo
{
    /// <summary>A session's device state, by libfuse's userdata pointer (looked up at INIT and before a worker waits).</summary>
    private static readonly ConcurrentDictionary<nint, DeviceSession> Sessions = new();

    [ThreadStatic] private static FuseBackingFiles? t_initSession;
    [ThreadStatic] private static ulong t_initUnique;

    /// <summary>One session's device: its backing files and the event that wakes its idle workers at exit.</summary>
    internal sealed class DeviceSession(FuseBackingFiles backingFiles, int exitEvent)
    {
        public FuseBackingFiles BackingFiles { get; } = backingFiles;
        public int ExitEvent { get; } = exitEvent;
        public volatile bool Exiting;

        /// <summary>Wakes every worker waiting for a request; the event stays readable, so later waits return at once.</summary>
        public void SignalExit()
        {
            Exiting = true;
            ulong one = 1;
            Interop.Libc.Write(ExitEvent, &one, sizeof(ulong));
        }
    }

    public static DeviceSession Install(nint session, nint userData, FuseBackingFiles backingFiles)
    {
        int fd = LibFuse.SessionFd(session);
        int flags = Interop.Libc.Fcntl(fd, Interop.Libc.F_GETFL, 0);
        if (flags < 0 || Interop.Libc.Fcntl(fd, Interop.Libc.F_SETFL, flags | Interop.Libc.O_NONBLOCK) < 0)
            throw new IOException($"cannot make /dev/fuse non-blocking (errno {Marshal.GetLastPInvokeError()})");
        int exitEvent = Interop.Libc.EventFd(0, Interop.Libc.EFD_CLOEXEC);
        if (exitEvent < 0)
            throw new IOException($"eventfd failed (errno {Marshal.GetLastPInvokeError()})");
        var device = new DeviceSession(backingFiles, exitEvent);
        Sessions[userData] = device;
        var io = new FuseCustomIo
        {
            Writev = &Writev,
            Read = &Read,
            SpliceSend = &SpliceSend,
        };
        int result = LibFuse.SessionCustomIo(session, &io, fd);
        if (result != 0)
        {
            Uninstall(userData);
            throw new IOException($"fuse_session_custom_io failed ({result})");
        }
        return device;
    }

    /// <summary>After the loop has returned: no worker waits on the exit event any more.</summary>
    public static void Uninstall(nint userData)
    {
        if (Sessions.TryRemove(userData, out DeviceSession? device))
            Interop.Libc.Close(device.ExitEvent);
    }

    [UnmanagedCallersOnly]
    private static nint Read(int fd, void* buffer, nuint length, nint userData)
    {
        int cancelState;
        Interop.Libc.PthreadSetCancelState(Interop.Libc.PTHREAD_CANCEL_DISABLE, &cancelState);
        try
        {
            while (true)
            {
                nint read = Interop.Libc.Read(fd, buffer, length);
                if (read >= 0)
                {
                    if (read >= sizeof(FuseInHeader) + sizeof(FuseInitIn) && ((FuseInHeader*)buffer)->Opcode == FuseKernel.OpcodeInit)
                        NoteInit((FuseInHeader*)buffer, userData);
                    return read;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (errno != Interop.Errno.EAGAIN)
                    return FailedWith(errno);
                if (!WaitForRequest(fd, userData))
                    return FailedWith(Interop.Errno.EINTR); // exiting: libfuse checks fuse_session_exited first
            }
        }
        catch (Exception)
        {
            // Nothing may escape an [UnmanagedCallersOnly] frame; libfuse ends the session on EIO.
            return FailedWith(Interop.Errno.EIO);
        }
        finally
        {
            int ignored;
            Interop.Libc.PthreadSetCancelState(cancelState, &ignored);
        }
    }

    /// <summary>Waits until the device has a request (true) or the session exits (false).</summary>
    private static bool WaitForRequest(int fd, nint userData)
    {
        if (!Sessions.TryGetValue(userData, out DeviceSession? device))
            return false;
        Interop.Libc.PollFd* waits = stackalloc Interop.Libc.PollFd[2];
        waits[0] = new Interop.Libc.PollFd { Fd = fd, Events = Interop.Libc.POLLIN };
        waits[1] = new Interop.Libc.PollFd { Fd = device.ExitEvent, Events = Interop.Libc.POLLIN };
        while (!device.Exiting)
        {
            int ready = Interop.Libc.Poll(waits, 2, -1);
            if (ready < 0 && Marshal.GetLastPInvokeError() == Interop.Errno.EINTR)
                continue;
            // Readable, or an error/hangup on the device (unmounted): the next read reports it.
            return ready > 0 && waits[1].ReturnedEvents == 0 || ready < 0;
        }
        return false;
    }

    private static void NoteInit(FuseInHeader* header, nint userData)
    {
        if (!Sessions.TryGetValue(userData, out DeviceSession? device))
            return;
        var offer = (FuseInitIn*)(header + 1);
        bool offered = (offer->Flags & FuseKernel.InitExt) != 0 && (offer->Flags2 & FuseKernel.Flags2Passthrough) != 0;
        device.BackingFiles.KernelOffered = offered;
        if (!offered)
            return;
        t_initSession = device.BackingFiles;
        t_initUnique = header->Unique;
    }

    [UnmanagedCallersOnly]
    private static nint Writev(int fd, IoVec* vectors, int count, nint userData)
    {
        try
        {
            return WritevChecked(fd, vectors, count);
        }
        catch (Exception)
        {
            // Nothing may escape an [UnmanagedCallersOnly] frame.
            return FailedWith(Interop.Errno.EIO);
        }
    }

    private static nint WritevChecked(int fd, IoVec* vectors, int count)
    {
        if (t_initSession is { } backingFiles && count == 2
            && vectors[0].Length >= (nuint)sizeof(FuseOutHeader) && ((FuseOutHeader*)vectors[0].Base)->Unique == t_initUnique)
        {
            t_initSession = null;
            if (((FuseOutHeader*)vectors[0].Base)->Error == 0 && vectors[1].Length == (nuint)sizeof(FuseInitOut))
                return WriteInitWithPassthrough(fd, vectors, backingFiles);
        }
        nint written = Interop.Libc.Writev(fd, vectors, count);
        return written < 0 ? FailedWith(Marshal.GetLastPInvokeError()) : written;
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
        nint written = Interop.Libc.Writev(fd, patched, 2);
        if (written < 0)
            return FailedWith(Marshal.GetLastPInvokeError());
        backingFiles.Enabled = true;
        return written;
    }

    [UnmanagedCallersOnly]
    private static nint SpliceSend(int fdIn, long* offsetIn, int fdOut, long* offsetOut, nuint length, uint flags, nint userData)
    {
        nint spliced = Interop.Libc.Splice(fdIn, offsetIn, fdOut, offsetOut, length, flags);
        return spliced < 0 ? FailedWith(Marshal.GetLastPInvokeError()) : spliced;
    }

    /// <summary>libfuse reads errno right after the call (ENODEV at unmount, EINTR, ENOENT): set it last.</summary>
    private static nint FailedWith(int errno)
    {
        Marshal.SetLastSystemError(errno);
        return -1;
    }
}
