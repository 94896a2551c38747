using System.Diagnostics;

namespace TvixLowFs.Bench.E2e;

/// <summary>What a finished external command left behind.</summary>
internal sealed record CommandResult(string Command, int ExitCode, string StandardOutput, string StandardError, TimeSpan Elapsed)
{
    public CommandResult EnsureSuccess()
    {
        if (ExitCode != 0)
        {
            throw new BenchmarkFailure($"`{Command}` exited with {ExitCode}: {FirstLines(StandardError)}");
        }
        return this;
    }

    internal static string FirstLines(string text, int lines = 3) =>
        string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(lines));
}

/// <summary>A failure that stops the benchmark (or one system in it) with a clear message.</summary>
internal sealed class BenchmarkFailure(string message) : Exception(message);

/// <summary>
/// Spawns dd, find, tar, mksquashfs, gcc, apt-get and the file-system servers. Every child is registered with the
/// <see cref="Teardown"/> so an interrupted run kills what it started. LC_ALL=C keeps dd's
/// "copied, X s" line parseable.
/// </summary>
internal static class ExternalCommand
{
    public static ProcessStartInfo StartInfo(string file, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
        };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        info.Environment["LC_ALL"] = "C";
        if (environment is not null)
        {
            foreach (var (name, value) in environment) info.Environment[name] = value;
        }
        return info;
    }

    public static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));

    public static string Describe(ProcessStartInfo info) => info.FileName + " " + string.Join(' ', info.ArgumentList);

    /// <summary>Starts a child and registers it; the caller owns its streams.</summary>
    public static Process Start(ProcessStartInfo info)
    {
        var process = Process.Start(info) ?? throw new BenchmarkFailure($"could not start {Describe(info)}");
        Teardown.Instance.TrackProcess(process);
        return process;
    }

    /// <summary>Runs to completion, capturing both streams; Elapsed spans start to exit.</summary>
    public static CommandResult Run(string file, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null, string? workingDirectory = null)
    {
        var info = StartInfo(file, arguments, environment, workingDirectory);
        var watch = Stopwatch.StartNew();
        using var process = Start(info);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        WaitOrKill(process, timeout ?? TimeSpan.FromMinutes(30), Describe(info));
        watch.Stop();
        Teardown.Instance.ForgetProcess(process);
        return new CommandResult(Describe(info), process.ExitCode, output.Result, error.Result, watch.Elapsed);
    }

    /// <summary>Runs a command whose output is only counted (find's lines), without keeping it.</summary>
    public static (CommandResult Result, long Lines) RunCountingLines(string file, IEnumerable<string> arguments, TimeSpan? timeout = null)
    {
        var info = StartInfo(file, arguments);
        var watch = Stopwatch.StartNew();
        using var process = Start(info);
        var error = process.StandardError.ReadToEndAsync();
        var lines = Task.Run(() => CountNewlines(process.StandardOutput.BaseStream));
        WaitOrKill(process, timeout ?? TimeSpan.FromMinutes(30), Describe(info));
        var count = lines.Result;
        watch.Stop();
        Teardown.Instance.ForgetProcess(process);
        return (new CommandResult(Describe(info), process.ExitCode, "", error.Result, watch.Elapsed), count);
    }

    public static void WaitOrKill(Process process, TimeSpan timeout, string description)
    {
        if (!process.WaitForExit(timeout))
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.WaitForExit();
            throw new BenchmarkFailure($"`{description}` did not finish within {timeout.TotalSeconds:0} s");
        }
        process.WaitForExit(); // flushes the redirected streams' readers
    }

    private static long CountNewlines(Stream stream)
    {
        var buffer = new byte[1 << 16];
        long count = 0;
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            count += buffer.AsSpan(0, read).Count((byte)'\n');
        }
        return count;
    }
}
