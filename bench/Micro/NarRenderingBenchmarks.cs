using System.Net.Sockets;
using System.Text;
using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using TvixLowFs.NarBridge;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using StorePath = TvixLowFs.Store.Model.StorePath;

namespace TvixLowFs.Bench.Micro;

/// <summary>
/// Issue 13: nar-bridge rendering a NAR from a warm local store (one file of 1 MiB or 256 MiB, its
/// blob in the page cache), served by the real Kestrel host on loopback to a raw-socket client that
/// reads into one buffer, so the client allocates the same for either size. MiB/s = NarMiB / Mean;
/// "no allocation per chunk" = the 256 MiB NAR (1,024 chunks of 256 KiB) allocating about what the
/// 1 MiB one does (MemoryDiagnoser counts this process: server and client).
/// </summary>
[MemoryDiagnoser]
public class NarRenderingBenchmarks
{
    private string _directory = "";
    private StoreServices _store = null!;
    private NarBridgeHost _host = null!;
    private Uri _baseUrl = null!;
    private string _narPath = "";
    private readonly byte[] _buffer = new byte[1 << 20];
    private byte[] _request = [];

    [Params(1, 256)]
    public int NarMiB { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "tvixlowfs-bench-nar-rendering-" + Guid.NewGuid().ToString("N"));
        _store = new StoreOpener().Open(StoreAddress.ForLocalDirectory(_directory));
        _host = NarBridgeHost.Create(_store, ListenAddress.Parse("127.0.0.1:0", allowNonLoopback: false), NullLoggerFactory.Instance, new NarBridgeOptions());
        _host.StartAsync().GetAwaiter().GetResult();
        _baseUrl = new Uri(_host.BaseUrl);
        string basename = AddFileAsync(NarMiB << 20).GetAwaiter().GetResult();
        // The NAR's URL as a client finds it: from the narinfo.
        string narInfo = Get("/" + basename[..StorePath.HashChars] + ".narinfo");
        _narPath = "/" + narInfo.Split('\n').Single(l => l.StartsWith("URL: ", StringComparison.Ordinal))["URL: ".Length..].Trim();
        _request = Encoding.ASCII.GetBytes($"GET {_narPath} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
        Fetch(); // the blob into the page cache, JIT and pools warm
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _host.StopAsync().GetAwaiter().GetResult();
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        System.IO.Directory.Delete(_directory, recursive: true);
    }

    /// <summary>One whole NAR response, headers included; returns the bytes received.</summary>
    [Benchmark]
    public long Fetch()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Connect(_baseUrl.Host, _baseUrl.Port);
        socket.Send(_request);
        long total = 0;
        int read;
        while ((read = socket.Receive(_buffer)) > 0)
            total += read;
        if (total < (long)NarMiB << 20)
            throw new InvalidOperationException($"{_narPath}: {total} bytes received, less than the NAR");
        return total;
    }

    private string Get(string path)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Connect(_baseUrl.Host, _baseUrl.Port);
        socket.Send(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"));
        using var response = new MemoryStream();
        int read;
        while ((read = socket.Receive(_buffer)) > 0)
            response.Write(_buffer, 0, read);
        string text = Encoding.UTF8.GetString(response.ToArray());
        if (!text.StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
            throw new InvalidOperationException($"GET {path}: {text.Split('\n')[0]}");
        return text;
    }

    /// <summary>One file of <paramref name="size"/> random bytes as a store path with its NarHash; returns its basename.</summary>
    private async Task<string> AddFileAsync(int size)
    {
        var bytes = new byte[size];
        new Random(size).NextBytes(bytes);
        await using var writer = _store.Blobs.OpenWrite();
        await writer.WriteAsync(bytes);
        B3Digest digest = await writer.CloseAsync();
        byte[] hash = System.Security.Cryptography.SHA1.HashData(Encoding.UTF8.GetBytes("nar-rendering-" + size));
        string basename = NixBase32.Encode(hash) + "-nar-rendering";
        var node = new Node { File = new FileNode { Name = ByteString.CopyFromUtf8(basename), Digest = digest.ToByteString(), Size = (ulong)size } };
        var nar = await _store.PathInfos.CalculateNarAsync(node);
        await _store.PathInfos.PutAsync(new PathInfo
        {
            Node = node,
            Narinfo = new NARInfo { NarSize = nar.NarSize, NarSha256 = ByteString.CopyFrom(nar.NarSha256) },
        });
        return basename;
    }
}
