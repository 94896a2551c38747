using System.Diagnostics;
using System.Text;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// A program other than tvixlowfs (real Nix, python) run to completion with a bounded wait; its
/// output is collected whole (these tools print little).
/// </summary>
internal static class ChildProcess
{
    public readonly record struct Result(int ExitCode, string Out, string Error)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Out}\nstderr:\n{Error}";
    }

    public static Result Run(string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null,
        int timeoutSeconds = 120)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        if (environment is not null)
            foreach ((string name, string value) in environment)
                start.Environment[name] = value;
        using Process process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.Append(e.Data).Append('\n'); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.Append(e.Data).Append('\n'); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"{program} {string.Join(' ', start.ArgumentList)} did not finish in {timeoutSeconds} s:\n{stderr}");
        }
        process.WaitForExit(); // drains the redirected streams
        lock (stdout)
        lock (stderr)
            return new Result(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs and throws with everything it printed unless it exits 0; returns stdout.</summary>
    public static string Check(string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null,
        int timeoutSeconds = 120)
    {
        string[] list = [.. arguments];
        Result result = Run(program, list, environment, timeoutSeconds);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', list)} failed: {result}");
        return result.Out;
    }
}
