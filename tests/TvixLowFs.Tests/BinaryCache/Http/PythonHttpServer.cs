using System.Diagnostics;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace TvixLowFs.Tests.BinaryCache.Http;

/// <summary>
/// A real static HTTP server that is not our code: <c>python3 -m http.server</c> on 127.0.0.1,
/// port 0 (the kernel picks one; the server prints it), serving one directory. Killed on dispose.
/// </summary>
internal sealed partial class PythonHttpServer : IDisposable
{
    private readonly Process _process;

    private PythonHttpServer(Process process, Uri baseUri)
    {
        _process = process;
        BaseUri = baseUri;
    }

    public Uri BaseUri { get; }

    public static PythonHttpServer Start(string directory)
    {
        var start = new ProcessStartInfo("python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // -u: the "Serving HTTP on … port N" line must not sit in a pipe buffer.
        foreach (string argument in new[] { "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", directory, "0" })
            start.ArgumentList.Add(argument);
        Process process = Process.Start(start) ?? throw new AssertionException("python3 did not start");
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine(); // the request log goes to stderr; keep the pipe drained
        Task<string?> line = process.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(20)) || line.Result is not { } text || ServingLine().Match(text) is not { Success: true } match)
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw new AssertionException("python3 -m http.server printed no port within 20 s");
        }
        return new PythonHttpServer(process, new Uri($"http://127.0.0.1:{match.Groups[1].Value}/"));
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
        _process.Dispose();
    }

    [GeneratedRegex(@"port (\d+)")]
    private static partial Regex ServingLine();
}
