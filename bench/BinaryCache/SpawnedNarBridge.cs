using System.Diagnostics;
using TvixLowFs.Bench.E2e;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// One `tvixlowfs nar-bridge` over a local store on a free loopback port, up once it accepts
/// connections; Dispose stops it with SIGTERM (as a service manager would) and waits.
/// </summary>
internal sealed class SpawnedNarBridge : IDisposable
{
    private readonly Process process;

    public string BaseUrl { get; }

    private SpawnedNarBridge(Process process, string baseUrl)
    {
        this.process = process;
        BaseUrl = baseUrl;
    }

    public static SpawnedNarBridge Start(string binary, string localStore, bool writable)
    {
        var port = StaticHttpServer.FreeLoopbackPort();
        List<string> arguments =
        [
            "nar-bridge", "--listen-address", $"127.0.0.1:{port}",
            "--blob-service-addr", localStore, "--directory-service-addr", localStore, "--path-info-service-addr", localStore,
        ];
        if (writable) arguments.Add("--writable");
        var process = ExternalCommand.Start(ExternalCommand.StartInfo(binary, arguments));
        TvixLowFsStore.DrainInBackground(process);
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (process.HasExited) throw new BenchmarkFailure($"tvixlowfs nar-bridge exited with {process.ExitCode}: {TvixLowFsStore.LastError(process)}");
            if (StaticHttpServer.Accepts(port)) return new SpawnedNarBridge(process, $"http://127.0.0.1:{port}");
            Thread.Sleep(20);
        }
        process.Kill();
        throw new BenchmarkFailure($"tvixlowfs nar-bridge did not listen on port {port} within 60 s");
    }

    /// <summary>The last lines it wrote to stderr, for a failure message.</summary>
    public string LastError() => TvixLowFsStore.LastError(process);

    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                ExternalCommand.Run("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                if (!process.WaitForExit(TimeSpan.FromSeconds(30))) process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException) { }
        Teardown.Instance.ForgetProcess(process);
        process.Dispose();
    }
}
