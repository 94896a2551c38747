using System.Net;
using System.Text.RegularExpressions;
using NUnit.Framework;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.NarBridge;

/// <summary>
/// <c>tvixlowfs nar-bridge</c> as a user runs it (the built binary, or TVIXLOWFS_BINARY): it says
/// where it serves, honours its options, refuses bad ones with one line and exit 2, and stops on
/// SIGTERM with exit 0.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed partial class NarBridgeCommandTests
{
    private string _directory = null!;

    [SetUp]
    public void CreateDirectory()
    {
        _directory = Path.Combine(Path.GetTempPath(), "tvixlowfs-narbridge-cli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_directory, recursive: true);

    private string[] StoreFlags()
    {
        string store = "local://" + Path.Combine(_directory, "store");
        return ["--blob-service-addr", store, "--directory-service-addr", store, "--path-info-service-addr", store];
    }

    [GeneratedRegex(@"nar-bridge serving (http://\S+) ")]
    private static partial Regex ServingLine();

    private static Uri WaitUntilServing(TvixlowfsProcess process)
    {
        Assert.That(process.WaitForErrorLine("nar-bridge serving http://", 60), Is.True, string.Join('\n', process.ErrorLines));
        string line = process.ErrorLines.First(l => l.Contains("nar-bridge serving", StringComparison.Ordinal));
        return new Uri(ServingLine().Match(line).Groups[1].Value + "/");
    }

    [Test]
    [CancelAfter(120_000)]
    public async Task ServesItsPriorityRefusesPutsWhenReadOnlyAndStopsOnSigterm()
    {
        using var process = TvixlowfsProcess.Start(["nar-bridge", "--listen-address", "127.0.0.1:0", "--priority", "7", "--log-level", "Debug", .. StoreFlags()]);
        Uri baseUrl = WaitUntilServing(process);
        using var http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
        Assert.That(await http.GetStringAsync("nix-cache-info"), Is.EqualTo("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 7\n"));
        using (var put = await http.PutAsync("nix-cache-info", new StringContent("StoreDir: /nix/store\n")))
            Assert.That(put.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(process.WaitForErrorLine("PUT /nix-cache-info -> 403: this nar-bridge is read-only", 30), Is.True, string.Join('\n', process.ErrorLines));
        Assert.That(process.WaitForErrorLine("GET /nix-cache-info -> 200 in ", 30), Is.True, "one debug line per request:\n" + string.Join('\n', process.ErrorLines));

        process.Signal(Libc.SIGTERM);
        Assert.That(process.WaitForExit(30), Is.True, "nar-bridge exits on SIGTERM");
        Assert.That(process.ExitCode, Is.Zero, string.Join('\n', process.ErrorLines));
    }

    [Test]
    [CancelAfter(120_000)]
    public async Task WritableAcceptsANarAndStopsOnSigint()
    {
        using var process = TvixlowfsProcess.Start(["nar-bridge", "--listen-address", "127.0.0.1:0", "--writable", .. StoreFlags()]);
        Uri baseUrl = WaitUntilServing(process);
        using var http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
        using (var put = await http.PutAsync("nix-cache-info", new StringContent("StoreDir: /nix/store\n")))
            Assert.That(put.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        process.Signal(Libc.SIGINT);
        Assert.That(process.WaitForExit(30), Is.True, "nar-bridge exits on SIGINT");
        Assert.That(process.ExitCode, Is.Zero, string.Join('\n', process.ErrorLines));
    }

    [TestCase("0.0.0.0:0", "not a loopback address")]
    [TestCase("[::]:0", "not a loopback address")]
    [TestCase("nowhere", "HOST:PORT")]
    [TestCase("unix://relative", "unix:///ABSOLUTE/PATH")]
    [CancelAfter(60_000)]
    public void ABadListenAddressIsOneLineAndExit2(string address, string reason)
    {
        var (exit, _, error) = TvixlowfsProcess.Run(["nar-bridge", "--listen-address", address, .. StoreFlags()], 60);
        Assert.That(exit, Is.EqualTo(2), string.Join('\n', error));
        Assert.That(error, Has.Length.EqualTo(1));
        Assert.That(error[0], Does.Contain("--listen-address").And.Contain(reason));
    }

    [Test]
    [CancelAfter(60_000)]
    public void ABadSigningKeyFileIsOneLineAndExit2()
    {
        string missing = Path.Combine(_directory, "missing-key");
        var (exit, _, error) = TvixlowfsProcess.Run(["nar-bridge", "--signing-key-file", missing, "--listen-address", "127.0.0.1:0", .. StoreFlags()], 60);
        Assert.That(exit, Is.EqualTo(2), string.Join('\n', error));
        Assert.That(error.Single(), Does.Contain("--signing-key-file " + missing));

        string notAKey = Path.Combine(_directory, "not-a-key");
        File.WriteAllText(notAKey, "name:bm90IGEga2V5\n");
        (exit, _, error) = TvixlowfsProcess.Run(["nar-bridge", "--signing-key-file", notAKey, "--listen-address", "127.0.0.1:0", .. StoreFlags()], 60);
        Assert.That(exit, Is.EqualTo(2), string.Join('\n', error));
        Assert.That(error.Single(), Does.Contain("--signing-key-file " + notAKey).And.Not.Contain("bm90IGEga2V5"));
    }

    [Test]
    [CancelAfter(60_000)]
    public void ANegativePriorityIsExit2()
    {
        var (exit, _, error) = TvixlowfsProcess.Run(["nar-bridge", "--priority", "-1", "--listen-address", "127.0.0.1:0", .. StoreFlags()], 60);
        Assert.That(exit, Is.EqualTo(2), string.Join('\n', error));
        Assert.That(error.Single(), Does.Contain("--priority"));
    }
}
