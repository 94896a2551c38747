using NUnit.Framework;
using System.Net;
using System.Net.Sockets;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Memory;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// What clients do when the daemon is not there, vanishes, stalls, or lies: one clear error,
/// StoreUnavailableException within the configured deadline, recovery by itself, and
/// corrupt data never passed on.
/// </summary>
public sealed class OutageTests
{
    private static readonly GrpcClientOptions ShortTimeout = new() { Timeout = TimeSpan.FromSeconds(2) };

    private static string FreeLoopbackAddress()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return $"grpc+http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
    }

    [Test]
    public void AnUnreachableStoreIsOneClearErrorAtOpen()
    {
        using var connector = new GrpcStoreConnector(ShortTimeout);
        string tcp = FreeLoopbackAddress();
        var e = Assert.Throws<StoreUnavailableException>(() => new StoreOpener(connector).Open(StoreAddress.Parse(tcp)));
        Assert.That(e!.Message, Does.Contain(tcp));

        string unix = "grpc+unix://" + Path.Combine(Path.GetTempPath(), "tvixlowfs-absent-" + Guid.NewGuid().ToString("N") + ".sock");
        e = Assert.Throws<StoreUnavailableException>(() => new StoreOpener(connector).Open(StoreAddress.Parse(unix)));
        Assert.That(e!.Message, Does.Contain(unix));
    }

    [TestCase(Transport.Tcp)]
    [TestCase(Transport.Unix)]
    public async Task CallsFailWhileTheDaemonIsDownAndRecoverWhenItIsBack(Transport transport)
    {
        await using var daemon = await TestDaemon.StartAsync(transport);
        using var connector = new GrpcStoreConnector(ShortTimeout);
        await using var client = new StoreOpener(connector).Open(StoreAddress.Parse(daemon.Address));
        byte[] bytes = Samples.Bytes(100_000, 5);
        B3Digest digest;
        await using (var writer = client.Blobs.OpenWrite())
        {
            await writer.WriteAsync(bytes);
            digest = await writer.CloseAsync();
        }

        await daemon.StopAsync();
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await client.Blobs.StatAsync(digest));
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await client.Blobs.OpenReadAsync(digest));
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await client.Directories.GetAsync(digest));
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await client.PathInfos.GetAsync(StorePathHash.FromBytes(new byte[20])));

        await daemon.RestartAsync();
        Assert.That(await client.Blobs.StatAsync(digest), Is.EqualTo(bytes.Length));
        using var reader = await client.Blobs.OpenReadAsync(digest);
        Assert.That(reader!.Length, Is.EqualTo(bytes.Length));
    }

    /// <summary>A peer that accepts connections and never answers: only deadlines get a caller out.</summary>
    [Test]
    public async Task AStalledDaemonFailsCallsAtTheDeadline()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var accepted = new List<Socket>();
        using var stop = new CancellationTokenSource();
        var acceptLoop = Task.Run(async () =>
        {
            try
            {
                while (true)
                    accepted.Add(await listener.AcceptAsync(stop.Token));
            }
            catch (OperationCanceledException) { }
        });
        string address = $"grpc+http://127.0.0.1:{((IPEndPoint)listener.LocalEndPoint!).Port}";
        using var connector = new GrpcStoreConnector(new GrpcClientOptions { Timeout = TimeSpan.FromSeconds(1) });
        Assert.Throws<StoreUnavailableException>(() => new StoreOpener(connector).Open(StoreAddress.Parse(address)));

        using var channel = GrpcStoreChannel.Open(StoreAddress.Parse(address), new GrpcClientOptions { Timeout = TimeSpan.FromSeconds(1) });
        await using var blobs = new GrpcBlobService(channel);
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await blobs.StatAsync(B3Digest.Empty));
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await blobs.OpenReadAsync(B3Digest.Empty));
        await using var directories = new GrpcDirectoryService(channel);
        await Assert.ThrowsAsync<StoreUnavailableException>(async () =>
        {
            await foreach (var _ in directories.GetRecursiveAsync(B3Digest.Empty)) { }
        });
        stop.Cancel();
        await acceptLoop;
        foreach (var socket in accepted)
            socket.Dispose();
    }

    [Test]
    public async Task CorruptBlobsAndDirectoriesAreRefused()
    {
        byte[] real = Samples.Bytes(50_000, 1);
        var asked = B3Digest.Compute(real);
        var wrongDirectory = new TvixLowFs.Protos.Castore.Directory { Symlinks = { Samples.Symlink("evil", "x") } };
        var blobs = new CorruptingBlobService(asked, Samples.Bytes(50_000, 2));
        var directories = new CorruptingDirectoryService(asked, wrongDirectory);
        var store = new StoreServices(blobs, directories, new MemoryPathInfoService(new NarCalculator(blobs, directories)));
        await using var daemon = await TestDaemon.StartAsync(Transport.Tcp, store);
        using var connector = new GrpcStoreConnector(ShortTimeout);
        await using var client = new StoreOpener(connector).Open(StoreAddress.Parse(daemon.Address));

        await Assert.ThrowsAsync<StoreValidationException>(async () => await client.Blobs.OpenReadAsync(asked));
        await Assert.ThrowsAsync<StoreValidationException>(async () => await client.Directories.GetAsync(asked));
        await Assert.ThrowsAsync<StoreValidationException>(async () =>
        {
            await foreach (var _ in client.Directories.GetRecursiveAsync(asked)) { }
        });
    }
}

/// <summary>Stopping the daemon with a call in flight: the stop returns and the call ends, completed or cancelled.</summary>
public sealed class GracefulStopTests
{
    [Test]
    public async Task AStopDuringAStreamingReadEndsTheCallCleanly()
    {
        await using var daemon = await TestDaemon.StartAsync(Transport.Unix);
        byte[] bytes = Samples.Bytes(8 * 1024 * 1024, 31);
        B3Digest digest;
        await using (var writer = daemon.Store.Blobs.OpenWrite())
        {
            await writer.WriteAsync(bytes);
            digest = await writer.CloseAsync();
        }
        using var channel = daemon.OpenPlainChannel();
        var client = new TvixLowFs.Protos.Castore.BlobService.BlobServiceClient(channel);
        using var call = client.Read(new TvixLowFs.Protos.Castore.ReadBlobRequest { Digest = digest.ToByteString() });
        Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None), Is.True, "the read is in flight");
        long received = call.ResponseStream.Current.Data.Length;

        var stop = daemon.StopAsync();
        global::Grpc.Core.StatusCode? status = null;
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
                received += call.ResponseStream.Current.Data.Length;
        }
        catch (global::Grpc.Core.RpcException e)
        {
            status = e.StatusCode;
        }
        await stop;
        Assert.That(status is null ? received == bytes.Length : status is global::Grpc.Core.StatusCode.Cancelled or global::Grpc.Core.StatusCode.Unavailable or global::Grpc.Core.StatusCode.Internal,
            Is.True, $"received {received} of {bytes.Length}, status {status}");
        await daemon.RestartAsync();
    }
}
