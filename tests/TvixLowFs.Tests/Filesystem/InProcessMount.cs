using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// A real FUSE mount of a <see cref="StoreFilesystem"/> inside the test process, on a fresh
/// temporary directory, served by libfuse threads while the test thread makes ordinary syscalls.
/// </summary>
internal sealed class InProcessMount : IDisposable
{
    private readonly FuseSession _session;
    private readonly Thread _loop;

    public InProcessMount(StoreServices store, StoreFilesystemOptions options, int threads = 8)
    {
        BackingFiles = options.BackingFiles as FuseBackingFiles;
        if (!File.Exists("/dev/fuse"))
            throw new InvalidOperationException("/dev/fuse is missing: the mount tests need FUSE");
        MountPoint = Path.Combine(Path.GetTempPath(), "tvixlowfs-mnt-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(MountPoint);
        var replies = new KernelReplySink();
        Filesystem = new StoreFilesystem(store, replies, options, Log);
        _session = FuseSession.Mount(Filesystem, new FuseMountOptions
        {
            MountPoint = MountPoint,
            FsName = "tvixlowfs",
            Subtype = "tvixlowfs",
            MaxThreads = threads,
            HandleSignals = false,
            DefaultPermissions = false,
            BackingFiles = BackingFiles,
            Replies = replies,
        });
        Mount.HungMounts.Watch(MountPoint);
        _loop = new Thread(() => _session.Run()) { IsBackground = true, Name = "fuse-loop " + MountPoint };
        _loop.Start();
    }

    public string MountPoint { get; }

    /// <summary>The session's backing files when the options asked for passthrough (a <see cref="FuseBackingFiles"/>).</summary>
    public FuseBackingFiles? BackingFiles { get; }

    public StoreFilesystem Filesystem { get; }

    public RecordingLogger Log { get; } = new();

    public string PathOf(params string[] parts) => Path.Combine([MountPoint, .. parts]);

    public void Dispose()
    {
        try
        {
            _session.Exit();
            _loop.Join(TimeSpan.FromSeconds(20));
            _session.Dispose();
        }
        finally
        {
            ForceUnmount(MountPoint);
            try
            {
                System.IO.Directory.Delete(MountPoint);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Detaches whatever is still mounted at <paramref name="mountPoint"/> (never leaves a mount behind).</summary>
    public static void ForceUnmount(string mountPoint)
    {
        if (!IsMountPoint(mountPoint))
            return;
        using var fusermount = Process.Start(new ProcessStartInfo("fusermount3", ["-u", "-z", mountPoint]) { RedirectStandardError = true })!;
        fusermount.WaitForExit();
    }

    public static bool IsMountPoint(string path)
    {
        string full = Path.GetFullPath(path).TrimEnd('/');
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            string[] fields = line.Split(' ');
            if (fields.Length > 4 && fields[4].Replace("\\040", " ") == full)
                return true;
        }
        return false;
    }

    /// <summary>The filesystem type of the mount at <paramref name="path"/>, from /proc/self/mountinfo.</summary>
    public static string? MountType(string path)
    {
        string full = Path.GetFullPath(path).TrimEnd('/');
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            string[] fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-");
            if (fields.Length > 4 && fields[4] == full && separator > 0)
                return fields[separator + 1] + " " + fields[separator + 2] + " " + fields[5];
        }
        return null;
    }
}

/// <summary>A logger that keeps every line (to check what failures log).</summary>
internal sealed class RecordingLogger : ILogger
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue((logLevel, formatter(state, exception)));

    /// <summary>
    /// Waits (bounded) until at least <paramref name="count"/> lines match: a failure is answered
    /// before it is logged, so a line may follow the reply a test has just seen.
    /// </summary>
    public (LogLevel Level, string Message)[] WaitForLines(Func<(LogLevel Level, string Message), bool> match, int count = 1, int timeoutSeconds = 30)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (Lines.Count(match) < count && waited.Elapsed < TimeSpan.FromSeconds(timeoutSeconds))
            Thread.Sleep(5);
        return [.. Lines.Where(match)];
    }
}
