using System.Diagnostics;
using System.Text;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// A program other than tvixlowfs (real Nix, python, xz, …) run to completion with a bounded wait;
/// stdout is collected whole as bytes (a NAR from <c>nix-store --dump</c> is binary), stderr as text.
/// </summary>
internal static class ChildProcess
{
    public readonly record struct Result(int ExitCode, byte[] Stdout, string Error)
    {
        /// <summary>Stdout as text (these tools print UTF-8).</summary>
        public string Out => Encoding.UTF8.GetString(Stdout);

        /// <summary>This result, or an exception with everything the program printed unless it exited 0.</summary>
        public Result Succeeded(string command) =>
            ExitCode == 0 ? this : throw new InvalidOperationException($"{command} failed: {this}");

        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Out}\nstderr:\n{Error}";
    }

    /// <summary>Runs <paramref name="program"/>, writing <paramref name="input"/> (if any) to its stdin, which is then closed.</summary>
    public static Result Run(string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null,
        int timeoutSeconds = 120, byte[]? input = null)
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
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var stdout = new MemoryStream();
        Task copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (input is not null)
            process.StandardInput.BaseStream.Write(input);
        process.StandardInput.Close();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"{program} {string.Join(' ', start.ArgumentList)} did not finish in {timeoutSeconds} s:\n{stderr.Result}");
        }
        // Both pipes reach end of file once the program (and anything it left behind) is gone.
        if (!Task.WaitAll([copy, stderr], TimeSpan.FromSeconds(30)))
            throw new TimeoutException($"{program} {string.Join(' ', start.ArgumentList)} exited but kept its output open");
        return new Result(process.ExitCode, stdout.ToArray(), stderr.Result);
    }
}
