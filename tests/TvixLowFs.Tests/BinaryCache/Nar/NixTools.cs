using System.Diagnostics;
using System.Text;

namespace TvixLowFs.Tests.BinaryCache.Nar;

/// <summary>
/// Real Nix (Debian's nix-bin 2.8) as the independent party: <c>nix-store --dump</c> and <c>nix-hash</c>,
/// each run with no substituters and a private XDG_CACHE_HOME.
/// </summary>
internal static class NixTools
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    /// <summary>The NAR Nix makes of <paramref name="path"/>.</summary>
    public static Task<byte[]> DumpAsync(string path) => RunAsync("nix-store", ["--option", "substituters", "", "--dump", path]);

    /// <summary>Nix's own <c>sha256:</c> NAR hash of <paramref name="path"/>, as 52 nixbase32 characters.</summary>
    public static async Task<string> HashBase32Async(string path) =>
        Encoding.ASCII.GetString(await RunAsync("nix-hash", ["--option", "substituters", "", "--type", "sha256", "--base32", path])).Trim();

    /// <summary>Runs a shell script (to make names .NET cannot spell, such as invalid UTF-8).</summary>
    public static Task<byte[]> ShellAsync(string script) => RunAsync("bash", ["-euc", script]);

    private static async Task<byte[]> RunAsync(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        string cache = Path.Combine(Path.GetTempPath(), "tvixlowfs-nar-xdg-" + Guid.NewGuid().ToString("N"));
        start.Environment["XDG_CACHE_HOME"] = cache;
        try
        {
            using var process = Process.Start(start)!;
            using var timeout = new CancellationTokenSource(Limit);
            var stdout = new MemoryStream();
            Task copy = process.StandardOutput.BaseStream.CopyToAsync(stdout, timeout.Token);
            Task<string> stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
                await copy;
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{program} did not finish within {Limit}");
            }
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await stderr}");
            return stdout.ToArray();
        }
        finally
        {
            if (Directory.Exists(cache))
                Directory.Delete(cache, recursive: true);
        }
    }
}
