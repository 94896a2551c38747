using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// A plain static HTTP server that is not our code: <c>python3 -m http.server --bind 127.0.0.1 0
/// --directory DIR</c> (port 0: the kernel picks a free port, which python prints on its
/// "Serving HTTP on 127.0.0.1 port N" line, so there is no race for a port). Python logs every
/// request on stderr (<c>127.0.0.1 - - [date] "GET /x.narinfo HTTP/1.1" 200 -</c>); those lines
/// are the request log the tests count. HTTP/1.0, one thread per request, no Range support.
/// </summary>
internal sealed partial class StaticHttpServer : IDisposable
{
    public readonly record struct Request(string Method, string Path, int Status);

    private readonly Process _process;
    private readonly ConcurrentQueue<Request> _requests = new();
    private readonly ConcurrentQueue<string> _errorLines = new();
    private readonly TaskCompletionSource<int> _port = new(TaskCreationOptions.RunContinuationsAsynchronously);

    [GeneratedRegex("^Serving HTTP on \\S+ port (\\d+) ")]
    private static partial Regex ServingLine();

    [GeneratedRegex("\"([A-Z]+) (\\S+) HTTP/[0-9.]+\" (\\d{3}) ")]
    private static partial Regex RequestLine();

    public string Directory { get; }

    public int Port { get; }

    /// <summary><c>http://127.0.0.1:PORT</c>, no trailing slash.</summary>
    public string BaseUrl => "http://127.0.0.1:" + Port;

    public StaticHttpServer(string directory, int startTimeoutSeconds = 20)
    {
        Directory = directory;
        string python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var start = new ProcessStartInfo(python)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        // -u: unbuffered, so each log line arrives as the request is answered.
        foreach (string argument in new[] { "-u", "-m", "http.server", "--bind", "127.0.0.1", "0", "--directory", directory })
            start.ArgumentList.Add(argument);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null && ServingLine().Match(e.Data) is { Success: true } match)
                _port.TrySetResult(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            _errorLines.Enqueue(e.Data);
            if (RequestLine().Match(e.Data) is { Success: true } match)
                _requests.Enqueue(new Request(match.Groups[1].Value, match.Groups[2].Value,
                    int.Parse(match.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture)));
        };
        _process.Exited += (_, _) => _port.TrySetException(new InvalidOperationException(
            "python3 -m http.server exited before serving:\n" + string.Join('\n', _errorLines)));
        _process.EnableRaisingEvents = true;
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        if (!_port.Task.Wait(TimeSpan.FromSeconds(startTimeoutSeconds)))
        {
            Dispose();
            throw new TimeoutException($"python3 -m http.server did not start serving {directory} in {startTimeoutSeconds} s");
        }
        // The socket listens before python prints the line (it binds, prints, then serves).
        Port = _port.Task.Result;
    }

    /// <summary>Every request answered so far, in the order python logged them.</summary>
    public IReadOnlyList<Request> Requests => [.. _requests];

    public int RequestCount => _requests.Count;

    /// <summary>The paths requested so far (e.g. <c>/abc….narinfo</c>, <c>/nar/….nar.xz</c>).</summary>
    public IReadOnlyList<string> RequestedPaths => [.. _requests.Select(request => request.Path)];

    /// <summary>How many requests (any method) were for <paramref name="path"/>.</summary>
    public int CountOf(string path) => _requests.Count(request => request.Path == path);

    /// <summary>
    /// <see cref="CountOf"/> once it reaches <paramref name="atLeast"/> or <paramref name="timeoutSeconds"/>
    /// pass: python logs a request while answering it, and its log is read asynchronously, so the
    /// client may have its answer a moment before the line is here.
    /// </summary>
    public int CountOf(string path, int atLeast, int timeoutSeconds = 10)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (CountOf(path) < atLeast && waited.Elapsed < TimeSpan.FromSeconds(timeoutSeconds))
            Thread.Sleep(20);
        return CountOf(path);
    }

    /// <summary>The request log as text, for assertion messages.</summary>
    public string Log => string.Join('\n', _requests.Select(request => $"{request.Method} {request.Path} {request.Status}"));

    public bool HasExited => _process.HasExited;

    /// <summary>Stops serving (the port then refuses connections); the request log stays readable.</summary>
    public void Stop()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }
    }

    public void Dispose()
    {
        Stop();
        _process.Dispose();
    }
}
