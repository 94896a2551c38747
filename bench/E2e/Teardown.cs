using System.Diagnostics;
using System.Runtime.InteropServices;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// Owns every mount and child process the benchmark made, and removes them on the normal path,
/// on Ctrl-C / SIGTERM / SIGHUP and at process exit. Unmounting is idempotent: a mount that is
/// already gone (its server saw the same SIGINT) is skipped.
/// </summary>
internal sealed class Teardown
{
    public static readonly Teardown Instance = new();

    private readonly Lock gate = new();
    private readonly List<(string MountPoint, Process? Server)> mounts = [];
    private readonly HashSet<Process> processes = [];
    private readonly List<PosixSignalRegistration> signalRegistrations = [];
    private bool interrupted;

    public bool Interrupted { get { lock (gate) return interrupted; } }

    /// <summary>Installs the signal and exit hooks once, before anything is mounted.</summary>
    public void InstallHooks()
    {
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP })
        {
            signalRegistrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                lock (gate) interrupted = true;
                Console.Error.WriteLine($"bench: {context.Signal}: unmounting and stopping what was started");
                RemoveEverything();
                Environment.Exit(130);
            }));
        }
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveEverything();
    }

    public void TrackProcess(Process process) { lock (gate) processes.Add(process); }

    public void ForgetProcess(Process process) { lock (gate) processes.Remove(process); }

    public void TrackMount(string mountPoint, Process? server)
    {
        lock (gate) mounts.Add((mountPoint, server));
    }

    /// <summary>Unmounts one mount point (fusermount3 -u, then -u -z) and waits for its server.</summary>
    public void Unmount(string mountPoint)
    {
        Process? server;
        lock (gate)
        {
            var index = mounts.FindIndex(m => m.MountPoint == mountPoint);
            server = index >= 0 ? mounts[index].Server : null;
            if (index >= 0) mounts.RemoveAt(index);
        }
        UnmountNow(mountPoint, server);
    }

    /// <summary>Everything still registered: mounts first (so servers can exit cleanly), then processes.</summary>
    public void RemoveEverything()
    {
        List<(string MountPoint, Process? Server)> leftMounts;
        List<Process> leftProcesses;
        lock (gate)
        {
            leftMounts = [.. mounts];
            mounts.Clear();
            leftProcesses = [.. processes];
            processes.Clear();
        }
        // Short-lived readers (dd, tar) first: they may hold the mounts busy.
        foreach (var process in leftProcesses.Where(p => !leftMounts.Any(m => ReferenceEquals(m.Server, p))))
        {
            Kill(process);
        }
        for (var i = leftMounts.Count - 1; i >= 0; i--)
        {
            UnmountNow(leftMounts[i].MountPoint, leftMounts[i].Server);
        }
        foreach (var process in leftProcesses) Kill(process);
    }

    /// <summary>Removes mounts a crashed earlier run left under the work directory.</summary>
    public static void RemoveStaleMounts(string workDirectory)
    {
        foreach (var mountPoint in MountTable.MountPointsUnder(workDirectory).OrderByDescending(m => m.Length))
        {
            Console.Error.WriteLine($"bench: removing a stale mount at {mountPoint}");
            UnmountNow(mountPoint, server: null);
        }
    }

    private static void UnmountNow(string mountPoint, Process? server)
    {
        try
        {
            if (MountTable.IsMounted(mountPoint))
            {
                RunQuietly("fusermount3", "-u", mountPoint);
                if (MountTable.IsMounted(mountPoint)) RunQuietly("fusermount3", "-u", "-z", mountPoint);
                if (MountTable.IsMounted(mountPoint)) RunQuietly("umount", "-l", mountPoint);
                if (MountTable.IsMounted(mountPoint)) Console.Error.WriteLine($"bench: could not unmount {mountPoint}");
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            Console.Error.WriteLine($"bench: unmounting {mountPoint}: {e.Message}");
        }
        if (server is not null)
        {
            // A FUSE server leaves its loop when its mount goes away; give it a moment, then insist.
            try
            {
                if (!server.WaitForExit(TimeSpan.FromSeconds(5)))
                {
                    Console.Error.WriteLine($"bench: the server of {mountPoint} (pid {server.Id}) did not exit within 5 s of its unmount; killing it");
                    Kill(server);
                }
            }
            catch (InvalidOperationException) { }
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { }
    }

    private static void RunQuietly(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        using var process = Process.Start(info);
        if (process is null) return;
        process.StandardOutput.ReadToEnd();
        process.StandardError.ReadToEnd();
        process.WaitForExit(TimeSpan.FromSeconds(10));
    }
}
