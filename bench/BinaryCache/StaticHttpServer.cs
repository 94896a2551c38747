using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TvixLowFs.Bench.E2e;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// `python3 -m http.server --bind 127.0.0.1 PORT --directory DIR`: a plain static server that is
/// not our code, serving one binary cache to both sides of a comparison. Registered with the
/// <see cref="Teardown"/>; Dispose stops it.
/// </summary>
internal sealed class StaticHttpServer : IDisposable
{
    private readonly Process process;

    public int Port { get; }
    public string BaseUrl => $"http://127.0.0.1:{Port}";

    private StaticHttpServer(Process process, int port)
    {
        this.process = process;
        Port = port;
    }

    public static StaticHttpServer Start(string directory)
    {
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var port = FreeLoopbackPort();
        var process = ExternalCommand.Start(ExternalCommand.StartInfo(python, ["-m", "http.server", "--bind", "127.0.0.1", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--directory", directory]));
        TvixLowFsStore.DrainInBackground(process);
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (process.HasExited) throw new BenchmarkFailure($"python3 -m http.server for {directory} exited with {process.ExitCode}: {TvixLowFsStore.LastError(process)}");
            if (Accepts(port)) return new StaticHttpServer(process, port);
            Thread.Sleep(20);
        }
        process.Kill();
        throw new BenchmarkFailure($"python3 -m http.server for {directory} did not listen on port {port} within 20 s");
    }

    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit(TimeSpan.FromSeconds(5));
            }
        }
        catch (InvalidOperationException) { }
        Teardown.Instance.ForgetProcess(process);
        process.Dispose();
    }

    /// <summary>A port the kernel just handed out; free again once the probe closes (a race only with other new listeners).</summary>
    internal static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static bool Accepts(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
