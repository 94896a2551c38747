using NUnit.Framework;
using System.Net.Sockets;
using Google.Protobuf;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Grpc;

/// <summary>How a test daemon listens.</summary>
public enum Transport { Tcp, Unix }

/// <summary>
/// A real in-process daemon over a memory store, on a free loopback port or a unix socket in
/// a private temp directory, and a plain GrpcChannel to it (the generated clients only).
/// </summary>
public sealed class TestDaemon : IAsyncDisposable
{
    private TestDaemon(DaemonHost host, StoreServices store, string directory)
    {
        Host = host;
        Store = store;
        Directory = directory;
    }

    public DaemonHost Host { get; private set; }
    public StoreServices Store { get; }
    public string Directory { get; }
    public string Address => Host.ClientAddress;
    public bool BlobBatch { get; private init; } = true;
    public DaemonOptions? Options { get; private init; }

    /// <param name="blobBatch">Off: the daemon serves only the tvix protocol, like tvix-store (no BlobBatchService).</param>
    /// <param name="options">Limits, read-only, TLS; the daemon's defaults when null.</param>
    public static async Task<TestDaemon> StartAsync(Transport transport, StoreServices? store = null, string? listen = null, bool blobBatch = true,
        DaemonOptions? options = null)
    {
        string directory = Path.Combine(Path.GetTempPath(), "tvixlowfs-grpc-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        store ??= new StoreOpener().Open(StoreAddress.Memory);
        listen ??= transport == Transport.Tcp ? "127.0.0.1:0" : "unix://" + Path.Combine(directory, "daemon.sock");
        var host = DaemonHost.Create(store, ListenAddress.Parse(listen), NullLoggerFactory.Instance, blobBatch: blobBatch, options: options);
        await host.StartAsync();
        return new TestDaemon(host, store, directory) { BlobBatch = blobBatch, Options = options };
    }

    /// <summary>Stops the daemon (its address stops answering); <see cref="RestartAsync"/> brings one back on the same address.</summary>
    public async Task StopAsync()
    {
        await Host.StopAsync();
        await Host.DisposeAsync();
    }

    public async Task RestartAsync()
    {
        string listen = Address.StartsWith("grpc+unix://", StringComparison.Ordinal)
            ? "unix://" + Address["grpc+unix://".Length..]
            : Address[(Address.IndexOf("://", StringComparison.Ordinal) + 3)..];
        Host = DaemonHost.Create(Store, ListenAddress.Parse(listen), NullLoggerFactory.Instance, blobBatch: BlobBatch, options: Options);
        await Host.StartAsync();
    }

    /// <summary>A plain channel that knows nothing of our client classes.</summary>
    public GrpcChannel OpenPlainChannel()
    {
        if (Address.StartsWith("grpc+http://", StringComparison.Ordinal))
            return GrpcChannel.ForAddress("http://" + Address["grpc+http://".Length..]);
        string path = Address["grpc+unix://".Length..];
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct);
                return new NetworkStream(socket, true);
            },
        };
        return GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler });
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Host.StopAsync();
            await Host.DisposeAsync();
        }
        catch (ObjectDisposedException)
        {
        }
        await Store.DisposeAsync();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Small store objects the gRPC tests share.</summary>
public static class Samples
{
    public static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static ByteString Name(string name) => ByteString.CopyFromUtf8(name);

    public static FileNode File(string name, byte[] contents, bool executable = false) => new()
    {
        Name = Name(name),
        Digest = B3Digest.Compute(contents).ToByteString(),
        Size = (ulong)contents.Length,
        Executable = executable,
    };

    public static DirectoryNode Child(string name, Directory directory) => new()
    {
        Name = Name(name),
        Digest = DirectoryRules.Digest(directory).ToByteString(),
        Size = DirectoryRules.Size(directory),
    };

    public static SymlinkNode Symlink(string name, string target) => new() { Name = Name(name), Target = ByteString.CopyFromUtf8(target) };

    /// <summary>A graph with a subtree shared at two depths: root/{a/shared, b/c/shared}.</summary>
    public static (Directory Root, Directory[] LeavesFirst) Graph()
    {
        var shared = new Directory { Files = { File("f", Bytes(10, 1)) }, Symlinks = { Symlink("l", "f") } };
        var c = new Directory { Directories = { Child("shared", shared) } };
        var a = new Directory { Directories = { Child("shared", shared) }, Files = { File("x", Bytes(3, 2), executable: true) } };
        var b = new Directory { Directories = { Child("c", c) } };
        var root = new Directory { Directories = { Child("a", a), Child("b", b) }, Symlinks = { Symlink("z", "a/x") } };
        return (root, [shared, c, a, b, root]);
    }

    public const string StorePathHashText = "00bgd045z0d4icpbc2yyz4gx48ak44la";
    public static readonly byte[] StorePathHashBytes = Convert.FromHexString("8a12321522fd91efbd60ebb2481af88580f61600");

    public static PathInfo PathInfo(string name = "hello", Node? node = null)
    {
        node ??= new Node { Symlink = new SymlinkNode { Name = Name(StorePathHashText + "-" + name), Target = ByteString.CopyFromUtf8("/nix/store/somewhereelse") } };
        return new PathInfo
        {
            Node = node,
            References = { ByteString.CopyFrom(StorePathHashBytes) },
            Narinfo = new NARInfo
            {
                NarSize = 64,
                NarSha256 = ByteString.CopyFrom(new byte[32]),
                Signatures = { new NARInfo.Types.Signature { Name = "cache.example-1", Data = ByteString.CopyFrom(new byte[64]) } },
                ReferenceNames = { StorePathHashText + "-" + name },
            },
        };
    }
}
