using System.Diagnostics;
using NUnit.Framework;

namespace TvixLowFs.Tests.BinaryCache.Http;

/// <summary>Runs a real tool (xz, zstd, nix-store, …) to completion with bounded time, stdout as bytes.</summary>
internal static class ExternalTool
{
    public static byte[] Run(string file, IEnumerable<string> arguments, byte[]? input = null, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        if (environment is not null)
        {
            foreach (var (name, value) in environment) start.Environment[name] = value;
        }
        using Process process = Process.Start(start) ?? throw new AssertionException($"{file} did not start");
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        var stdout = new MemoryStream();
        Task copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        if (input is not null) process.StandardInput.BaseStream.Write(input);
        process.StandardInput.Close();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new AssertionException($"{file} {string.Join(' ', arguments)} took over 120 s");
        }
        copy.Wait(TimeSpan.FromSeconds(30));
        if (process.ExitCode != 0)
            throw new AssertionException($"{file} {string.Join(' ', arguments)} exited {process.ExitCode}: {stderr.Result}");
        return stdout.ToArray();
    }

    /// <summary>The bytes <paramref name="tool"/> (xz, zstd, bzip2, brotli, gzip) makes of <paramref name="data"/>, with extra flags.</summary>
    public static byte[] Compress(string tool, byte[] data, params string[] flags) =>
        Run(tool, [.. flags, "-c"], data);
}
