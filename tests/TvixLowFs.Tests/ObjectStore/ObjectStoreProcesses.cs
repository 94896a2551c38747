using NUnit.Framework;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;

namespace TvixLowFs.Tests.ObjectStore;

/// <summary>
/// The binary run against buckets as a user runs it (import, daemon, mount), with everything it
/// started stopped and unmounted on <see cref="Dispose"/>: one per test.
/// </summary>
internal sealed class ObjectStoreProcesses : IDisposable
{
    private readonly List<TvixlowfsProcess> _processes = [];
    private readonly List<string> _mountPoints = [];

    public ObjectStoreProcesses(string root)
    {
        Root = root;
        System.IO.Directory.CreateDirectory(root);
    }

    public string Root { get; }

    public static string[] StoreFlags(string address) =>
        ["--blob-service-addr", address, "--directory-service-addr", address, "--path-info-service-addr", address];

    /// <summary>Imports <paramref name="tree"/> into <paramref name="address"/> and returns the store path's base name.</summary>
    public static string Import(string address, string tree)
    {
        (int exit, string[] output, string[] error) = TvixlowfsProcess.Run(["import", tree, .. StoreFlags(address)], timeoutSeconds: 300);
        Assert.That(exit, Is.Zero, string.Join('\n', error));
        Assert.That(output, Has.Length.EqualTo(1));
        Assert.That(output[0], Does.Match("^/nix/store/[0-9a-z]{32}-" + Path.GetFileName(tree) + "$"));
        return output[0]["/nix/store/".Length..];
    }

    /// <summary>Mounts <paramref name="address"/> (with <c>--list-root</c>) and returns the mount point once it is mounted.</summary>
    public string Mount(string address, params string[] options)
    {
        string mountPoint = Path.Combine(Root, "mnt-" + _mountPoints.Count);
        System.IO.Directory.CreateDirectory(mountPoint);
        _mountPoints.Add(mountPoint);
        TvixlowfsProcess process = Start(["mount", mountPoint, "--list-root", .. options, .. StoreFlags(address)]);
        Assert.That(process.WaitForErrorLine("mounted " + mountPoint, timeoutSeconds: 120), Is.True, string.Join('\n', process.ErrorLines));
        return mountPoint;
    }

    /// <summary>A daemon over <paramref name="address"/> on <paramref name="port"/> (a free one when 0); returns its grpc+http address.</summary>
    public (TvixlowfsProcess Daemon, string Address) StartDaemon(string address, int port = 0, params string[] options)
    {
        if (port == 0)
            port = FreePort();
        TvixlowfsProcess daemon = Start(["daemon", "--listen-address", $"127.0.0.1:{port}", "--log-level", "Information", .. options, .. StoreFlags(address)]);
        Assert.That(daemon.WaitForErrorLine("serving the tvix store protocol on", timeoutSeconds: 120), Is.True, string.Join('\n', daemon.ErrorLines));
        return (daemon, $"grpc+http://127.0.0.1:{port}");
    }

    public TvixlowfsProcess Start(string[] arguments)
    {
        TvixlowfsProcess process = TvixlowfsProcess.Start(arguments);
        _processes.Add(process);
        return process;
    }

    /// <summary>A port nothing listens on (now).</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Every entry below <paramref name="actual"/> equals the one below <paramref name="expected"/>: names, link targets, bytes.</summary>
    public static void AssertSameTree(string expected, string actual)
    {
        string[] Entries(string root) => System.IO.Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(root, path)).Order(StringComparer.Ordinal).ToArray();
        Assert.That(Entries(actual), Is.EqualTo(Entries(expected)));
        foreach (string relative in Entries(expected))
        {
            string want = Path.Combine(expected, relative), got = Path.Combine(actual, relative);
            var info = new FileInfo(want);
            if (info.LinkTarget is { } target)
                Assert.That(new FileInfo(got).LinkTarget, Is.EqualTo(target), relative);
            else if (File.Exists(want))
                Assert.That(File.ReadAllBytes(got), Is.EqualTo(File.ReadAllBytes(want)), relative);
        }
    }

    public void Dispose()
    {
        foreach (TvixlowfsProcess process in _processes)
            process.Dispose();
        foreach (string mountPoint in _mountPoints)
            InProcessMount.ForceUnmount(mountPoint);
        System.IO.Directory.Delete(Root, recursive: true);
    }
}
