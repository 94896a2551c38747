using System.Collections.Concurrent;
using System.Diagnostics;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Mount;

/// <summary>
/// The built <c>tvixlowfs</c> command run as a child process: <c>dotnet tvixlowfs.dll</c> from the
/// test output, or the executable named by <c>TVIXLOWFS_BINARY</c> (e.g. the published NativeAOT one).
/// </summary>
internal sealed class TvixlowfsProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly ConcurrentQueue<string> _stdout = new();
    private readonly SemaphoreSlim _lines = new(0);

    private TvixlowfsProcess(Process process)
    {
        _process = process;
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { _stderr.Enqueue(e.Data); _lines.Release(); } };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) _stdout.Enqueue(e.Data); };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
    }

    /// <summary>Starts the command; a <c>mount</c> is registered with <see cref="HungMounts"/>, so a test hung on it can be freed.</summary>
    /// <param name="ignoreInterrupt">Start it as a background job of a shell would be: SIGINT ignored.</param>
    public static TvixlowfsProcess Start(IEnumerable<string> arguments, bool ignoreInterrupt = false)
    {
        string[] list = [.. arguments];
        if (list is ["mount", string mountPoint, ..])
            HungMounts.Watch(mountPoint);
        return Launch(list, ignoreInterrupt);
    }

    private static TvixlowfsProcess Launch(IEnumerable<string> arguments, bool ignoreInterrupt = false)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        // A suite started in the background by a non-interactive shell (CI does) inherits SIGINT and
        // SIGQUIT ignored, and the mount keeps an inherited SIG_IGN as libfuse does: give the child
        // the default dispositions so the signal tests test the mount, not their parent shell.
        start.FileName = "env";
        start.ArgumentList.Add(ignoreInterrupt ? "--ignore-signal=INT" : "--default-signal=INT,QUIT");
        string? binary = Environment.GetEnvironmentVariable("TVIXLOWFS_BINARY");
        if (!string.IsNullOrEmpty(binary))
        {
            start.ArgumentList.Add(binary);
        }
        else
        {
            start.ArgumentList.Add("dotnet");
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "tvixlowfs.dll"));
        }
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        foreach (string variable in new[] { "BLOB_SERVICE_ADDR", "DIRECTORY_SERVICE_ADDR", "PATH_INFO_SERVICE_ADDR" })
            start.Environment.Remove(variable);
        return new TvixlowfsProcess(Process.Start(start)!);
    }

    /// <summary>Runs to completion (for import and failing mounts); returns exit code, stdout, stderr.</summary>
    public static (int ExitCode, string[] Out, string[] Error) Run(IEnumerable<string> arguments, int timeoutSeconds = 120)
    {
        // Not Start: a command run to completion leaves no mount to watch (a mount that succeeds here times out below).
        using TvixlowfsProcess process = Launch(arguments);
        if (!process._process.WaitForExit(timeoutSeconds * 1000))
            throw new TimeoutException("tvixlowfs " + string.Join(' ', arguments) + " did not finish");
        process._process.WaitForExit(); // drains the redirected streams
        return (process._process.ExitCode, process._stdout.ToArray(), process._stderr.ToArray());
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string[] ErrorLines => _stderr.ToArray();

    /// <summary>How many stderr lines have arrived: a mark for <see cref="WaitForErrorLineAfter"/>.</summary>
    public int ErrorLineCount => _stderr.Count;

    /// <summary>Waits for a stderr line containing <paramref name="text"/>; false if the process ends first or time runs out.</summary>
    public bool WaitForErrorLine(string text, int timeoutSeconds = 60) =>
        WaitForErrorLineAfter(0, line => line.Contains(text, StringComparison.Ordinal), timeoutSeconds);

    /// <summary>
    /// Waits for a stderr line that <paramref name="matches"/> among those after the first
    /// <paramref name="mark"/> (<see cref="ErrorLineCount"/> taken before the action that should
    /// print it, so lines from earlier actions do not count); false if the process ends first or
    /// time runs out.
    /// </summary>
    public bool WaitForErrorLineAfter(int mark, Func<string, bool> matches, int timeoutSeconds = 60)
    {
        DateTime giveUp = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < giveUp)
        {
            if (_stderr.Skip(mark).Any(matches))
                return true;
            if (_process.HasExited && !_lines.Wait(100))
                return _stderr.Skip(mark).Any(matches);
            _lines.Wait(200);
        }
        return false;
    }

    /// <summary>The stderr lines after the first <paramref name="mark"/>.</summary>
    public string[] ErrorLinesAfter(int mark) => [.. _stderr.Skip(mark)];

    public void Signal(int signal) => Libc.Kill(_process.Id, signal);

    public bool WaitForExit(int timeoutSeconds = 30)
    {
        if (!_process.WaitForExit(timeoutSeconds * 1000))
            return false;
        _process.WaitForExit();
        return true;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Signal(Libc.SIGTERM);
            if (!_process.WaitForExit(10_000))
                _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
        _lines.Dispose();
    }
}
