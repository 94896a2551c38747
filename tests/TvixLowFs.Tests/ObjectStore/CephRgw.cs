using System.Diagnostics;
using System.Net.Sockets;
using TvixLowFs.Tests.BinaryCache;

namespace TvixLowFs.Tests.ObjectStore;

/// <summary>
/// A real S3 server for the object-store tests: a single-node Ceph cluster in a temp directory (one
/// mon, one memstore OSD, radosgw's beast frontend on 127.0.0.1), with a user whose keys are known.
/// Stopped by PID, radosgw first, then the OSD, then the mon. Every step is bounded.
/// </summary>
public sealed class CephRgw : IDisposable
{
    public const string AccessKey = "TVIXLOWFSTESTKEY0001";
    public const string SecretKey = "tvixlowfs-test-secret-key-not-a-real-one";

    private readonly string _conf;
    private Process? _radosgw;

    private CephRgw(string directory, int rgwPort)
    {
        Directory = directory;
        Port = rgwPort;
        _conf = Path.Join(directory, "ceph.conf");
    }

    public string Directory { get; }
    public int Port { get; }
    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>An objectstore+s3 address for <paramref name="bucket"/> on this server, keys in the query.</summary>
    public string Address(string bucket, string? prefix = null) =>
        $"objectstore+s3://{bucket}{(prefix is null ? "" : "/" + prefix)}?aws_endpoint={Endpoint}&aws_region=us-east-1&aws_allow_http=true"
        + $"&aws_access_key_id={AccessKey}&aws_secret_access_key={SecretKey}";

    public static CephRgw Start()
    {
        string directory = Path.Join(Path.GetTempPath(), "tvixlowfs-rgw-" + Guid.NewGuid().ToString("N")[..12]);
        int monPort = FreePort(), rgwPort = FreePort();
        var rgw = new CephRgw(directory, rgwPort);
        try
        {
            rgw.Bootstrap(monPort);
            return rgw;
        }
        catch
        {
            rgw.Dispose();
            throw;
        }
    }

    private void Bootstrap(int monPort)
    {
        foreach (string sub in new[] { "run", "log", "mon/ceph-a", "osd/ceph-0", "rgw" })
            System.IO.Directory.CreateDirectory(Path.Join(Directory, sub));
        string fsid = Guid.NewGuid().ToString();
        File.WriteAllText(_conf, $"""
            [global]
            fsid = {fsid}
            mon_host = v2:127.0.0.1:{monPort}
            # radosgw asks the mon for a "secure" connection that auth none cannot give, and hangs: crc.
            auth_cluster_required = none
            auth_service_required = none
            auth_client_required = none
            ms_mon_client_mode = crc
            osd_pool_default_size = 1
            osd_pool_default_min_size = 1
            mon_allow_pool_size_one = true
            osd_crush_chooseleaf_type = 0
            osd_pool_default_pg_num = 8
            osd_pool_default_pgp_num = 8
            osd_pool_default_pg_autoscale_mode = off
            # radosgw creates its pools one by one: ~1 s each unless paxos proposes at once.
            paxos_propose_interval = 0.01
            paxos_min_wait = 0.01
            run_dir = {Directory}/run
            admin_socket = {Directory}/run/$name.asok
            pid_file = {Directory}/run/$name.pid
            log_file = {Directory}/log/$name.log
            mon_data = {Directory}/mon/$cluster-$id
            osd_data = {Directory}/osd/$cluster-$id
            osd_objectstore = memstore
            memstore_device_bytes = 4294967296
            # deleted data is freed after 30 s, not 2 hours (memstore holds it in RAM until then)
            rgw_gc_obj_min_wait = 30
            rgw_gc_processor_period = 30
            [client]
            admin_socket =
            [client.rgw.0]
            # without tcp_nodelay a small GET takes ~40 ms
            rgw_frontends = beast endpoint=127.0.0.1:{Port} tcp_nodelay=1
            rgw_data = {Directory}/rgw

            """);
        string monmap = Path.Join(Directory, "monmap");
        Run("monmaptool", "--create", "--fsid", fsid, "--addv", "a", $"[v2:127.0.0.1:{monPort}]", monmap);
        Run("ceph-mon", "-c", _conf, "-i", "a", "--mkfs", "--monmap", monmap);
        Run("ceph-mon", "-c", _conf, "-i", "a");
        string osdUuid = Guid.NewGuid().ToString();
        Run("ceph", "-c", _conf, "--connect-timeout", "30", "osd", "new", osdUuid);
        Run("ceph-osd", "-c", _conf, "-i", "0", "--mkfs", "--osd-uuid", osdUuid);
        Run("ceph-osd", "-c", _conf, "-i", "0");
        StartRadosgw();
        Run("radosgw-admin", "-c", _conf, "user", "create", "--uid=ci", "--display-name=ci",
            $"--access-key={AccessKey}", $"--secret-key={SecretKey}");
    }

    /// <summary>
    /// radosgw in the foreground under setsid (a daemonized one reports success even when it cannot
    /// bind), its output in log/rgw.out; returns once it answers HTTP.
    /// </summary>
    public void StartRadosgw()
    {
        string output = Path.Join(Directory, "log", "rgw.out");
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        // exec all the way down: the PID we hold is radosgw's own (setsid does not fork outside a group leader).
        foreach (string argument in new[] { "-c", "exec setsid radosgw -c \"$0\" -n client.rgw.0 -f >>\"$1\" 2>&1", _conf, output })
            start.ArgumentList.Add(argument);
        _radosgw = Process.Start(start) ?? throw new InvalidOperationException("radosgw did not start");
        var deadline = Stopwatch.StartNew();
        while (!Answers())
        {
            if (_radosgw.HasExited)
                throw new InvalidOperationException($"radosgw exited with {_radosgw.ExitCode}:\n{Tail(output)}");
            if (deadline.Elapsed > TimeSpan.FromSeconds(90))
                throw new TimeoutException($"radosgw did not answer on {Endpoint} in 90 s:\n{Tail(output)}");
            Thread.Sleep(100);
        }
    }

    /// <summary>Stops radosgw only (the cluster stays): S3 is unreachable until <see cref="StartRadosgw"/>.</summary>
    public void StopRadosgw()
    {
        if (_radosgw is null)
            return;
        Terminate(_radosgw.Id);
        _radosgw.Dispose();
        _radosgw = null;
    }

    private bool Answers()
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", Port);
            using NetworkStream stream = client.GetStream();
            stream.ReadTimeout = 2000;
            stream.Write("GET / HTTP/1.0\r\n\r\n"u8);
            var buffer = new byte[16];
            return stream.Read(buffer) > 0;
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        StopRadosgw();
        foreach (string name in new[] { "osd.0", "mon.a" })
        {
            string pidFile = Path.Join(Directory, "run", name + ".pid");
            if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid))
                Terminate(pid);
        }
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // a daemon that outlived SIGKILL's wait still writes its log: leave the directory
        }
    }

    /// <summary>SIGTERM, up to 20 s for the process to go, then SIGKILL.</summary>
    private static void Terminate(int pid)
    {
        Process process;
        try
        {
            process = Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return; // already gone
        }
        using (process)
        {
            ChildProcess.Run("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], timeoutSeconds: 10);
            if (!process.WaitForExit(TimeSpan.FromSeconds(20)))
            {
                process.Kill();
                process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
    }

    private static void Run(string program, params string[] arguments) =>
        ChildProcess.Run(program, arguments, timeoutSeconds: 60).Succeeded(program);

    private static string Tail(string path) =>
        File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(20)) : "(no output)";

    private static int FreePort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
