using System.Diagnostics;
using System.Net.Sockets;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// The corpus imported into an on-disk local store with the published tvixlowfs binary. The
/// store is reused while both the corpus and the binary are unchanged (a changed binary may have
/// changed the on-disk layout), and otherwise rebuilt from scratch.
/// </summary>
internal sealed class TvixLowFsStore
{
    public string Binary { get; }
    public string StoreDirectory { get; }
    /// <summary>/nix/store/&lt;hash&gt;-corpus as printed by import; its basename is the mount-root entry.</summary>
    public string StorePath { get; }
    public string StorePathBaseName => Path.GetFileName(StorePath);

    private TvixLowFsStore(string binary, string storeDirectory, string storePath)
    {
        Binary = binary;
        StoreDirectory = storeDirectory;
        StorePath = storePath;
    }

    public IReadOnlyDictionary<string, string> LocalAddresses => Addresses("local://" + StoreDirectory);

    public static IReadOnlyDictionary<string, string> Addresses(string address) => new Dictionary<string, string>
    {
        ["BLOB_SERVICE_ADDR"] = address,
        ["DIRECTORY_SERVICE_ADDR"] = address,
        ["PATH_INFO_SERVICE_ADDR"] = address,
    };

    /// <summary>Imports (or reuses) the corpus; throws <see cref="SystemUnavailable"/> if the binary cannot.</summary>
    public static TvixLowFsStore Ensure(string binary, Corpus corpus, string profileDirectory)
    {
        if (!File.Exists(binary)) throw new SystemUnavailable($"no binary at {binary} (run ./build.sh)");
        var storeDirectory = Path.Combine(profileDirectory, "store");
        var stampPath = Path.Combine(profileDirectory, "store.stamp");
        var info = new FileInfo(binary);
        var identity = $"corpus={corpus.Fingerprint}\nbinary={info.Length}:{info.LastWriteTimeUtc.Ticks}\n";
        if (File.Exists(stampPath))
        {
            var stamp = File.ReadAllText(stampPath);
            var pathLine = stamp.Split('\n').FirstOrDefault(l => l.StartsWith("path=", StringComparison.Ordinal));
            if (stamp.StartsWith(identity, StringComparison.Ordinal) && pathLine is not null && Directory.Exists(storeDirectory))
            {
                Console.Error.WriteLine($"e2e: reusing the local store {storeDirectory}");
                return new TvixLowFsStore(binary, storeDirectory, pathLine["path=".Length..]);
            }
        }
        Console.Error.WriteLine($"e2e: importing the corpus into the local store {storeDirectory}");
        File.Delete(stampPath);
        if (Directory.Exists(storeDirectory)) Directory.Delete(storeDirectory, recursive: true);
        Directory.CreateDirectory(storeDirectory);
        var store = new TvixLowFsStore(binary, storeDirectory, "");
        var result = ExternalCommand.Run(binary, ["import", corpus.Directory], store.LocalAddresses, TimeSpan.FromMinutes(20));
        if (result.ExitCode != 0)
        {
            throw new SystemUnavailable($"`tvixlowfs import` exited with {result.ExitCode}: {CommandResult.FirstLines(result.StandardError, 1)}");
        }
        var storePath = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .LastOrDefault(l => l.StartsWith("/nix/store/", StringComparison.Ordinal));
        if (storePath is null) throw new SystemUnavailable("`tvixlowfs import` printed no /nix/store path");
        Console.Error.WriteLine($"e2e: imported as {storePath} in {result.Elapsed.TotalSeconds:0.0} s");
        File.WriteAllText(stampPath, identity + "path=" + storePath + "\n");
        return new TvixLowFsStore(binary, storeDirectory, storePath);
    }

    /// <summary>
    /// Starts `tvixlowfs daemon` over this store on a unix socket and waits until it accepts
    /// connections. The process is registered for teardown.
    /// </summary>
    public Process StartDaemon(string socketPath)
    {
        File.Delete(socketPath);
        return StartDaemon(["--listen-address", "unix://" + socketPath], socketPath,
            () => File.Exists(socketPath) && Accepts(new UnixDomainSocketEndPoint(socketPath), AddressFamily.Unix, ProtocolType.Unspecified));
    }

    /// <summary>The same on 127.0.0.1 at a free TCP port (with the daemon options given); returns that port.</summary>
    public (Process Daemon, int Port) StartTcpDaemon(IReadOnlyList<string> options)
    {
        int port;
        using (var probe = new TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }
        var endpoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port);
        var daemon = StartDaemon(["--listen-address", $"127.0.0.1:{port}", .. options], $"127.0.0.1:{port}",
            () => Accepts(endpoint, AddressFamily.InterNetwork, ProtocolType.Tcp));
        return (daemon, port);
    }

    private Process StartDaemon(IReadOnlyList<string> arguments, string where, Func<bool> accepts)
    {
        var info = ExternalCommand.StartInfo(Binary, ["daemon", .. arguments], LocalAddresses);
        var daemon = ExternalCommand.Start(info);
        DrainInBackground(daemon);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (daemon.HasExited)
            {
                throw new SystemUnavailable($"`tvixlowfs daemon` exited with {daemon.ExitCode}: {LastError(daemon)}");
            }
            if (accepts())
            {
                Console.Error.WriteLine($"e2e: tvixlowfs daemon (pid {daemon.Id}) listening on {where} after {deadline.Elapsed.TotalMilliseconds:0} ms");
                return daemon;
            }
            Thread.Sleep(20);
        }
        throw new SystemUnavailable($"`tvixlowfs daemon` did not listen on {where} within 20 s");
    }

    private static bool Accepts(System.Net.EndPoint endpoint, AddressFamily family, ProtocolType protocol)
    {
        try
        {
            using var socket = new Socket(family, SocketType.Stream, protocol);
            socket.Connect(endpoint);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Keeps a long-lived child's pipes from filling up, remembering its last stderr lines.</summary>
    public static void DrainInBackground(Process process)
    {
        var lines = new Queue<string>();
        ErrorTails.AddOrUpdate(process, lines);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (lines)
            {
                lines.Enqueue(e.Data);
                while (lines.Count > 20) lines.Dequeue();
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
    }

    public static string LastError(Process process)
    {
        if (!ErrorTails.TryGetValue(process, out var lines)) return "";
        process.WaitForExit(TimeSpan.FromMilliseconds(200)); // let the last lines arrive
        lock (lines) return string.Join(" / ", lines.Distinct().TakeLast(3));
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Process, Queue<string>> ErrorTails = new();
}

/// <summary>A system that cannot be measured in this run (not built yet, a missing feature); its rows say n/a.</summary>
internal sealed class SystemUnavailable(string reason) : Exception(reason);
