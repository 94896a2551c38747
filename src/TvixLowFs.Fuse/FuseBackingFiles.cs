using Microsoft.Win32.SafeHandles;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// Backing files of one session, registered with FUSE_DEV_IOC_BACKING_OPEN on its /dev/fuse
/// descriptor. Give it to <see cref="FuseMountOptions.BackingFiles"/> to offer passthrough at
/// INIT; the kernel needs CAP_SYS_ADMIN to register backing files.
/// </summary>
public sealed unsafe class FuseBackingFiles : IFuseBackingFiles
{
    private volatile int _deviceFd = -1;
    private volatile bool _enabled;

    public bool Enabled
    {
        get => _enabled && _deviceFd >= 0;
        internal set => _enabled = value;
    }

    /// <summary>Whether the kernel offered passthrough at INIT (false also before INIT).</summary>
    public bool KernelOffered { get; internal set; }

    internal void Attach(int deviceFd)
    {
        if (Interlocked.CompareExchange(ref _deviceFd, deviceFd, -1) != -1)
            throw new InvalidOperationException("these backing files already belong to a session");
    }

    /// <summary>The session's descriptor is about to close: registrations end with it.</summary>
    internal void Detach()
    {
        _deviceFd = -2;
        _enabled = false;
    }

    public int Open(SafeFileHandle file)
    {
        ArgumentNullException.ThrowIfNull(file);
        int device = _deviceFd;
        if (device < 0 || !_enabled)
            return -Interop.Errno.ENODEV;
        bool referenced = false;
        try
        {
            // The descriptor travels inside the ioctl's struct, so no SafeHandle parameter can carry it: hold a reference instead.
            file.DangerousAddRef(ref referenced);
            var map = new FuseBackingMap { Fd = (int)file.DangerousGetHandle() };
            int id = Interop.Libc.Ioctl(device, FuseKernel.IocBackingOpen, &map);
            return id > 0 ? id : -System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
        }
        catch (ObjectDisposedException)
        {
            return -Interop.Errno.EBADF;
        }
        finally
        {
            if (referenced)
                file.DangerousRelease();
        }
    }

    public void Close(int backingId)
    {
        int device = _deviceFd;
        if (device < 0 || backingId <= 0)
            return;
        uint id = (uint)backingId;
        Interop.Libc.Ioctl(device, FuseKernel.IocBackingClose, &id);
    }
}
