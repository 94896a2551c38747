using System.Runtime.InteropServices;
using System.Text;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// One mounted libfuse low-level session serving an <see cref="IFuseOperations"/>:
/// <see cref="Mount"/> creates and mounts, <see cref="Run"/> blocks in the multi-threaded loop
/// (fuse_session_loop_mt, 3.12 form) until <see cref="Exit"/>, a signal, or an external unmount,
/// and <see cref="Dispose"/> calls <see cref="IFuseOperations.Destroy"/> (if the loop ran) while
/// the channel is still open, closes the session's reply sink (<see cref="FuseMountOptions.Replies"/>),
/// then unmounts and destroys the session. Handlers run on libfuse's
/// worker threads, concurrently.
/// </summary>
public sealed unsafe class FuseSession : IDisposable
{
    private readonly FuseMountOptions options;
    private readonly Lock stateLock = new();
    private readonly ManualResetEventSlim loopReturned = new(false);
    private GCHandle operationsHandle;
    private IFuseOperations? operations;
    private bool loopRan;
    private nint session;
    private NativeArgs arguments;
    private bool mounted;
    private bool running;
    private bool wakeStarted;
    private bool disposed;
    private FuseDeviceIo.DeviceSession? device;

    private FuseSession(FuseMountOptions options) => this.options = options;

    public string MountPoint => options.MountPoint;

    /// <summary>Whether the loop was told to stop (fuse_session_exited).</summary>
    public bool ExitRequested
    {
        get { lock (stateLock) return session != 0 && LibFuse.SessionExited(session) != 0; }
    }

    /// <summary>Creates the session and mounts it; the kernel queues requests until <see cref="Run"/>.</summary>
    /// <exception cref="IOException">libfuse refused the options or the mount (its own reason is on stderr).</exception>
    public static FuseSession Mount(IFuseOperations operations, FuseMountOptions options)
    {
        ArgumentNullException.ThrowIfNull(operations);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxThreads < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxThreads must be at least 1");
        var fuseSession = new FuseSession(options);
        try
        {
            fuseSession.Create(operations);
            fuseSession.MountSession();
            return fuseSession;
        }
        catch
        {
            fuseSession.Dispose();
            throw;
        }
    }

    private void Create(IFuseOperations operations)
    {
        var argv = new List<string> { "tvixlowfs-fuse", "-o", options.MountOptionString() };
        if (options.Debug) argv.Add("-d");
        arguments = NativeArgs.Allocate(argv);
        this.operations = operations;
        operationsHandle = GCHandle.Alloc(operations);
        var table = FuseOperationTable.Create(); // libfuse copies it into the session
        var args = new FuseArgs { Argc = arguments.Count, Argv = arguments.Argv };
        session = LibFuse.SessionNew(&args, &table, (nuint)sizeof(FuseLowLevelOps), GCHandle.ToIntPtr(operationsHandle));
        LibFuse.OptFreeArgs(&args);
        if (session == 0) throw new IOException($"fuse_session_new refused the options '{options.MountOptionString()}'");
    }

    private void MountSession()
    {
        var path = Encoding.UTF8.GetBytes(options.MountPoint + "\0");
        fixed (byte* p = path)
        {
            if (LibFuse.SessionMount(session, p) != 0) throw new IOException($"cannot mount FUSE filesystem at {options.MountPoint}");
        }
        mounted = true;
        if (options.BackingFiles is { } backingFiles)
        {
            // Before Run: INIT is the first request the loop reads.
            backingFiles.Attach(LibFuse.SessionFd(session));
            device = FuseDeviceIo.Install(session, GCHandle.ToIntPtr(operationsHandle), backingFiles);
        }
    }

    /// <summary>
    /// The multi-threaded loop ends by cancelling its workers (pthread_cancel), and glibc loads
    /// libgcc_s on the first cancellation. If the process has run out of descriptors by then that
    /// load fails and glibc aborts the process with the mount still attached; loading it now, while
    /// descriptors are plentiful, leaves glibc's later load nothing to open.
    /// </summary>
    private static void PreloadCancellationUnwinder()
    {
        if (!NativeLibrary.TryLoad("libgcc_s.so.1", out _))
            FuseDiagnostics.Report("libgcc_s.so.1 could not be loaded: stopping the loop may fail if descriptors run out");
    }

    /// <summary>
    /// Serves requests on up to <see cref="FuseMountOptions.MaxThreads"/> libfuse threads until
    /// <see cref="Exit"/>, SIGINT/SIGTERM/SIGHUP (with <see cref="FuseMountOptions.HandleSignals"/>)
    /// or an unmount from outside. Returns libfuse's result: 0, or -errno on a device error.
    /// </summary>
    public int Run()
    {
        lock (stateLock)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (running) throw new InvalidOperationException("the session loop is already running");
            running = true;
            loopRan = true;
            loopReturned.Reset();
        }
        var signals = options.HandleSignals
            ? new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }
                .Select(s => PosixSignalRegistration.Create(s, context => { context.Cancel = true; Exit(); }))
                .ToArray()
            : [];
        PreloadCancellationUnwinder();
        var loopConfig = LibFuse.LoopConfigCreate();
        try
        {
            LibFuse.LoopConfigSetMaxThreads(loopConfig, (uint)options.MaxThreads);
            // Keep idle workers instead of tearing them down and re-attaching new ones to the runtime.
            LibFuse.LoopConfigSetIdleThreads(loopConfig, (uint)options.MaxThreads);
            // Clone descriptors would be blocking ones our device I/O cannot wake at exit.
            LibFuse.LoopConfigSetCloneFd(loopConfig, options.CloneFd && device is null ? 1u : 0u);
            return LibFuse.SessionLoopMultiThreaded(session, loopConfig);
        }
        finally
        {
            LibFuse.LoopConfigDestroy(loopConfig);
            foreach (var registration in signals) registration.Dispose();
            lock (stateLock)
            {
                running = false;
                loopReturned.Set();
            }
        }
    }

    /// <summary>
    /// Makes <see cref="Run"/> return soon; callable from any thread (also a handler or a signal).
    /// fuse_session_exit only sets a flag that the libfuse workers check after each request, so
    /// an idle loop is woken by a statfs of the mount point from a background thread (answered by
    /// the filesystem; the kernel never caches it), repeated until the loop
    /// returns. If it has not returned after a few seconds, the mount is detached as a last resort.
    /// </summary>
    public void Exit()
    {
        lock (stateLock)
        {
            if (session == 0) return;
            LibFuse.SessionExit(session);
            if (device is not null)
            {
                // Our own device I/O: waiting workers wake on the exit event, no request needed.
                device.SignalExit();
                return;
            }
            if (!running || wakeStarted) return;
            wakeStarted = true;
        }
        new Thread(WakeLoop) { IsBackground = true, Name = "fuse-exit-wake" }.Start();
    }

    private void WakeLoop()
    {
        for (var attempt = 0; attempt < 60; attempt++)
        {
            if (loopReturned.IsSet) break;
            // statfs, not a lookup: the kernel sends every statfs to us and holds no inode lock for
            // it, where a lookup of a name in the root waits behind any lookup pending there (a
            // store path whose backend hangs), and the loop would never be woken.
            try { _ = new DriveInfo(options.MountPoint).TotalSize; }
            catch (Exception) { /* the mount may be going away; that also ends the loop */ }
            if (loopReturned.Wait(50)) break;
        }
        lock (stateLock)
        {
            if (!loopReturned.IsSet && mounted && session != 0)
            {
                FuseDiagnostics.Report($"fuse: loop at {options.MountPoint} did not stop after exit; detaching the mount");
                LibFuse.SessionUnmount(session);
                mounted = false;
            }
            wakeStarted = false;
        }
    }

    /// <summary>Stops the loop if it runs (waiting for it), unmounts, destroys the session.</summary>
    public void Dispose()
    {
        bool wasRunning;
        lock (stateLock)
        {
            if (disposed) return;
            disposed = true;
            wasRunning = running;
        }
        if (wasRunning)
        {
            Exit();
            loopReturned.Wait();
        }
        // Destroy before unmounting: requests still waiting on the filesystem's backend can be
        // answered (unmounting closes /dev/fuse, and the kernel fails whatever is left), and
        // backing ids are closed on the live descriptor. libfuse's own destroy callback is not
        // registered (it would run after the unmount), so this is the one call.
        bool destroy;
        lock (stateLock)
        {
            destroy = loopRan && operations is not null;
            loopRan = false;
        }
        if (destroy)
            DestroyOperations(operations!);
        // Replies after this would reach a closed (maybe reused) descriptor and freed libfuse memory.
        options.Replies?.Close();
        // Unmounting closes the device descriptor, and the backing ids with it: no ioctl may
        // reach that descriptor number afterwards (it may be reused by then).
        options.BackingFiles?.Detach();
        lock (stateLock)
        {
            if (session != 0)
            {
                if (mounted) LibFuse.SessionUnmount(session);
                mounted = false;
                LibFuse.SessionDestroy(session);
                session = 0;
            }
        }
        if (options.BackingFiles is not null && operationsHandle.IsAllocated)
            FuseDeviceIo.Uninstall(GCHandle.ToIntPtr(operationsHandle));
        if (operationsHandle.IsAllocated) operationsHandle.Free();
        arguments.Free();
    }

    private static void DestroyOperations(IFuseOperations operations)
    {
        try
        {
            operations.Destroy();
        }
        catch (Exception e)
        {
            FuseDiagnostics.Report($"fuse destroy: handler threw {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Who sent the request (uid, gid, pid, umask); valid until it is answered.</summary>
    internal static FuseCtx RequestContext(FuseRequest request) => *LibFuse.RequestContext(request.Handle);

    /// <summary>Whether the kernel asked to interrupt the request (the caller gave up).</summary>
    internal static bool IsInterrupted(FuseRequest request) => LibFuse.RequestInterrupted(request.Handle) != 0;

    /// <summary>argv for fuse_session_new in native memory, kept for the session's life.</summary>
    private struct NativeArgs
    {
        public byte** Argv;
        public int Count;

        public static NativeArgs Allocate(IReadOnlyList<string> values)
        {
            var argv = (byte**)NativeMemory.AllocZeroed((nuint)(values.Count + 1), (nuint)sizeof(byte*));
            for (var i = 0; i < values.Count; i++)
            {
                var bytes = Encoding.UTF8.GetBytes(values[i]);
                var s = (byte*)NativeMemory.Alloc((nuint)bytes.Length + 1);
                bytes.CopyTo(new Span<byte>(s, bytes.Length));
                s[bytes.Length] = 0;
                argv[i] = s;
            }
            return new NativeArgs { Argv = argv, Count = values.Count };
        }

        public void Free()
        {
            if (Argv == null) return;
            for (var i = 0; i < Count; i++) NativeMemory.Free(Argv[i]);
            NativeMemory.Free(Argv);
            Argv = null;
        }
    }
}
