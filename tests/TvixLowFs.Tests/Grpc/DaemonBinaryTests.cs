using NUnit.Framework;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// <c>tvixlowfs daemon</c> as a user runs it: the built binary (TVIXLOWFS_BINARY, else the apphost
/// built next to the tests), <c>import</c> into it through BLOB_SERVICE_ADDR and friends, SIGTERM.
/// </summary>
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class DaemonBinaryTests
{
    private string _directory = null!;

    [SetUp]
    public void CreateDirectory()
    {
        _directory = Path.Combine(Path.GetTempPath(), "tvixlowfs-daemon-bin-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void RemoveDirectory() => System.IO.Directory.Delete(_directory, recursive: true);

    private static string Binary()
    {
        string? configured = Environment.GetEnvironmentVariable("TVIXLOWFS_BINARY");
        return !string.IsNullOrEmpty(configured) ? configured : Path.Combine(AppContext.BaseDirectory, "tvixlowfs");
    }

    private Process Start(IDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(Binary())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        if (args is ["mount", string mountPoint, ..])
            Mount.HungMounts.Watch(mountPoint);
        // Nothing of the user's environment leaks in: no real default store, no stray addresses.
        start.Environment["HOME"] = _directory;
        start.Environment["XDG_DATA_HOME"] = Path.Combine(_directory, "data");
        start.Environment["XDG_CACHE_HOME"] = Path.Combine(_directory, "cache");
        foreach (string name in new[] { "BLOB_SERVICE_ADDR", "DIRECTORY_SERVICE_ADDR", "PATH_INFO_SERVICE_ADDR", GrpcClientOptions.TimeoutEnvironmentVariable })
            start.Environment.Remove(name);
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        return Process.Start(start)!;
    }

    private async Task<(int Exit, string Out, string Error)> Run(IDictionary<string, string> environment, params string[] args)
    {
        using var process = Start(environment, args);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output, await error);
    }

    private static Dictionary<string, string> StoreAt(string address) => new()
    {
        ["BLOB_SERVICE_ADDR"] = address,
        ["DIRECTORY_SERVICE_ADDR"] = address,
        ["PATH_INFO_SERVICE_ADDR"] = address,
    };

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Waits until the daemon answers (a bounded number of tries; no timing is asserted).</summary>
    private static async Task WaitUntilServing(string address, Process daemon)
    {
        using var connector = new GrpcStoreConnector(new GrpcClientOptions { Timeout = TimeSpan.FromSeconds(2) });
        for (int attempt = 0; attempt < 300; attempt++)
        {
            Assert.That(daemon.HasExited, Is.False, "the daemon exited: " + (daemon.HasExited ? await daemon.StandardError.ReadToEndAsync() : ""));
            try
            {
                await using var blobs = await connector.OpenBlobServiceAsync(StoreAddress.Parse(address));
                return;
            }
            catch (StoreUnavailableException)
            {
                await Task.Delay(100);
            }
        }
        Assert.Fail($"the daemon never answered on {address}");
    }

    private static async Task<int> Terminate(Process daemon)
    {
        using (var kill = Process.Start("kill", ["-TERM", daemon.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        await daemon.WaitForExitAsync();
        return daemon.ExitCode;
    }

    [TestCase(Transport.Tcp)]
    [TestCase(Transport.Unix)]
    public async Task ImportIntoARunningDaemonThenSigtermExitsZero(Transport transport)
    {
        string listen = transport == Transport.Tcp ? $"127.0.0.1:{FreePort()}" : "unix://" + Path.Combine(_directory, "d.sock");
        string address = transport == Transport.Tcp ? "grpc+http://" + listen : "grpc+unix://" + listen["unix://".Length..];
        using var daemon = Start(StoreAt("memory://"), "daemon", "--listen-address", listen, "--log-level", "Debug");
        var daemonErrors = daemon.StandardError.ReadToEndAsync();
        try
        {
            await WaitUntilServing(address, daemon);
            if (transport == Transport.Unix)
                Assert.That(File.GetUnixFileMode(listen["unix://".Length..]), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));

            string tree = Path.Combine(_directory, "tree");
            System.IO.Directory.CreateDirectory(Path.Combine(tree, "sub"));
            await File.WriteAllTextAsync(Path.Combine(tree, "a"), "hello\n");
            await File.WriteAllBytesAsync(Path.Combine(tree, "sub", "big"), Samples.Bytes(3_000_000, 4));
            File.CreateSymbolicLink(Path.Combine(tree, "link"), "a");

            var (exit, output, error) = await Run(StoreAt(address), "import", tree);
            Assert.That(exit, Is.Zero, error);
            string storePath = output.Trim();
            Assert.That(storePath, Does.Match("^/nix/store/[0-9a-z]{32}-tree$"));

            // The daemon has the PathInfo, the root directory and the big blob.
            using var connector = new GrpcStoreConnector(new GrpcClientOptions());
            await using var client = new StoreOpener(connector).Open(StoreAddress.Parse(address));
            var pathInfo = await client.PathInfos.GetAsync(StorePath.ParseAbsolute(storePath).Hash);
            Assert.That(pathInfo, Is.Not.Null);
            var root = (await client.Directories.GetAsync(B3Digest.FromByteString(pathInfo!.Node.Directory.Digest)))?.Message;
            Assert.That(root!.Files.Select(f => f.Name.ToStringUtf8()), Is.EqualTo(new[] { "a" }));
            var sub = (await client.Directories.GetAsync(B3Digest.FromByteString(root.Directories[0].Digest)))?.Message;
            Assert.That(await client.Blobs.StatAsync(B3Digest.FromByteString(sub!.Files[0].Digest)), Is.EqualTo(3_000_000));
        }
        finally
        {
            int code = await Terminate(daemon);
            string log = await daemonErrors;
            Assert.That(code, Is.Zero, log);
            Assert.That(log, Does.Contain("/tvix.store.v1.PathInfoService/Put -> grpc-status 0"), "one debug line per request");
            Assert.That(log, Does.Not.Contain("Microsoft.AspNetCore"), "framework chatter stays out of debug logs");
        }
        if (transport == Transport.Unix)
            Assert.That(Path.Exists(listen["unix://".Length..]), Is.False, "the socket is removed on a clean stop");
    }

    /// <summary>The "done when": daemon, import through the env addresses, mount, read, stop both.</summary>
    [TestCase(true)]
    [TestCase(false)]
    public async Task MountOfADaemonStoreShowsTheImportedTree(bool cache)
    {
        string socket = Path.Combine(_directory, "d.sock");
        string address = "grpc+unix://" + socket;
        using var daemon = Start(StoreAt("memory://"), "daemon", "--listen-address", "unix://" + socket);
        var daemonErrors = daemon.StandardError.ReadToEndAsync();
        string mountPoint = Path.Combine(_directory, "mnt");
        System.IO.Directory.CreateDirectory(mountPoint);
        try
        {
            await WaitUntilServing(address, daemon);
            string tree = Path.Combine(_directory, "tree");
            System.IO.Directory.CreateDirectory(Path.Combine(tree, "bin"));
            await File.WriteAllTextAsync(Path.Combine(tree, "bin", "tool"), "#!/bin/sh\necho tool\n");
            File.SetUnixFileMode(Path.Combine(tree, "bin", "tool"), (UnixFileMode)0x1ED);
            await File.WriteAllBytesAsync(Path.Combine(tree, "data"), Samples.Bytes(1_500_000, 8));
            var (exit, output, error) = await Run(StoreAt(address), "import", tree);
            Assert.That(exit, Is.Zero, error);
            string basename = Path.GetFileName(output.Trim());

            using var mount = cache
                ? Start(StoreAt(address), "mount", mountPoint, "--cache-dir", Path.Combine(_directory, "cache"))
                : Start(StoreAt(address), "mount", mountPoint, "--no-cache");
            string? line = await mount.StandardError.ReadLineAsync();
            var mountErrors = mount.StandardError.ReadToEndAsync();
            if (line is null || !line.StartsWith("tvixlowfs: mounted", StringComparison.Ordinal))
            {
                await Terminate(mount);
                Assert.Fail($"the mount did not come up: {line} {await mountErrors}");
            }
            try
            {
                Assert.That(File.ReadAllText(Path.Combine(mountPoint, basename, "bin", "tool")), Is.EqualTo("#!/bin/sh\necho tool\n"));
                Assert.That(File.GetUnixFileMode(Path.Combine(mountPoint, basename, "bin", "tool")) & UnixFileMode.UserExecute, Is.EqualTo(UnixFileMode.UserExecute));
                Assert.That(File.ReadAllBytes(Path.Combine(mountPoint, basename, "data")), Is.EqualTo(await File.ReadAllBytesAsync(Path.Combine(tree, "data"))));
            }
            finally
            {
                Assert.That(await Terminate(mount), Is.Zero, await mountErrors);
            }
            Assert.That(System.IO.Directory.EnumerateFileSystemEntries(mountPoint), Is.Empty, "unmounted");
            if (cache)
                Assert.That(System.IO.Directory.EnumerateFiles(Path.Combine(_directory, "cache", "blobs"), "*", SearchOption.AllDirectories).Count(),
                    Is.EqualTo(2), "both blobs read through the mount were kept in the cache");
            else
                Assert.That(System.IO.Directory.Exists(Path.Combine(_directory, "cache")), Is.False, "--no-cache keeps nothing");
        }
        finally
        {
            Assert.That(await Terminate(daemon), Is.Zero, await daemonErrors);
        }
    }

    [Test]
    public async Task AnUnreachableDaemonIsOneLineAndANonZeroExit()
    {
        string address = $"grpc+http://127.0.0.1:{FreePort()}";
        string tree = Path.Combine(_directory, "file");
        await File.WriteAllTextAsync(tree, "x");
        var environment = StoreAt(address);
        environment[GrpcClientOptions.TimeoutEnvironmentVariable] = "2";
        var (exit, output, error) = await Run(environment, "import", tree);
        Assert.That(exit, Is.Not.Zero);
        Assert.That(output, Is.Empty);
        Assert.That(error.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(error, Does.Contain("cannot reach the store at " + address));
    }

    [Test]
    public async Task BadListenAddressesAndTimeoutsAreRefused()
    {
        var (exit, _, error) = await Run(StoreAt("memory://"), "daemon", "--listen-address", "0.0.0.0:8000");
        Assert.That(exit, Is.Not.Zero);
        Assert.That(error, Does.Contain("loopback"));
        (exit, _, error) = await Run(StoreAt("memory://"), "daemon", "--listen-address", "unix://" + Path.Combine(_directory, "absent", "d.sock"));
        Assert.That(exit, Is.Not.Zero);
        Assert.That(error.TrimEnd().Split('\n'), Has.Length.EqualTo(1), error);
        Assert.That(error, Does.Contain("does not exist"));
        (exit, _, error) = await Run(StoreAt("memory://"), "import", "--grpc-timeout", "soon", _directory);
        Assert.That(exit, Is.Not.Zero);
        Assert.That(error, Does.Contain("timeout"));
    }

    [Test]
    public async Task BadTlsAndLimitOptionsAreRefusedWithOneLine()
    {
        string pem = Path.Combine(_directory, "none.pem");
        foreach ((string[] args, string expected) in new[]
        {
            (new[] { "--tls-cert-file", pem }, "go together"),
            (new[] { "--client-ca-file", pem }, "needs TLS"),
            (new[] { "--tls-cert-file", pem, "--tls-key-file", pem, "--listen-address", "unix://" + Path.Combine(_directory, "d.sock") }, "unix socket"),
            (new[] { "--tls-cert-file", pem, "--tls-key-file", pem, "--listen-address", $"127.0.0.1:{FreePort()}" }, "cannot use the TLS certificate"),
            (new[] { "--max-blob-bytes", "0" }, "--max-blob-bytes"),
            (new[] { "--max-message-bytes", "1000" }, "max-message-bytes must be at least 65536"),
            (new[] { "--stream-idle-timeout", "-1" }, "--stream-idle-timeout"),
        })
        {
            var (exit, _, error) = await Run(StoreAt("memory://"), ["daemon", .. args]);
            Assert.That(exit, Is.Not.Zero, string.Join(' ', args));
            Assert.That(error, Does.Contain(expected), string.Join(' ', args));
        }
    }

    /// <summary>
    /// TLS and the write policy as a user sets them up: certificates on disk, <c>daemon --tls-cert-file
    /// --tls-key-file --client-ca-file</c>, imports through <c>grpc+https://</c> addresses in the
    /// environment; then the same daemon <c>--read-only</c>.
    /// </summary>
    [Test]
    [CancelAfter(180_000)]
    public async Task ImportThroughGrpcHttpsNeedsAClientCertificateAndAReadOnlyDaemonRefusesIt()
    {
        var certificates = TestCertificates.In(Path.Combine(_directory, "pki"));
        var serverCa = certificates.CreateAuthority("servers");
        var server = certificates.CreateServer(serverCa);
        var clientCa = certificates.CreateAuthority("clients");
        var runner = certificates.CreateClient(clientCa, "runner");
        string tree = Path.Combine(_directory, "tree");
        System.IO.Directory.CreateDirectory(tree);
        await File.WriteAllTextAsync(Path.Combine(tree, "a"), "hello\n");

        foreach (bool readOnly in new[] { false, true })
        {
            int port = FreePort();
            string address = $"grpc+https://127.0.0.1:{port}?tls-ca-cert-path={Uri.EscapeDataString(serverCa.CertificateFile)}";
            string withCertificate = address + $"&tls-client-cert-path={Uri.EscapeDataString(runner.CertificateFile)}&tls-client-key-path={Uri.EscapeDataString(runner.KeyFile)}";
            string[] args = ["daemon", "--listen-address", $"127.0.0.1:{port}", "--tls-cert-file", server.CertificateFile, "--tls-key-file", server.KeyFile,
                "--client-ca-file", clientCa.CertificateFile, .. readOnly ? new[] { "--read-only" } : []];
            using var daemon = Start(StoreAt("memory://"), args);
            var daemonErrors = daemon.StandardError.ReadToEndAsync();
            try
            {
                await WaitUntilServing(address, daemon);
                var (exit, output, error) = await Run(StoreAt(address), "import", tree);
                Assert.That(exit, Is.Not.Zero, "no client certificate: the import may not write");
                Assert.That(error, Does.Contain(readOnly ? "read-only" : "client certificate"));

                (exit, output, error) = await Run(StoreAt(withCertificate), "import", tree);
                if (readOnly)
                {
                    Assert.That(exit, Is.Not.Zero);
                    Assert.That(error, Does.Contain("read-only"));
                }
                else
                {
                    Assert.That(exit, Is.Zero, error);
                    Assert.That(output.Trim(), Does.Match("^/nix/store/[0-9a-z]{32}-tree$"));
                }
            }
            finally
            {
                Assert.That(await Terminate(daemon), Is.Zero, await daemonErrors);
            }
        }
    }
}
