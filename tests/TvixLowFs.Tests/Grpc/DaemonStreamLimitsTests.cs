using System.Diagnostics;
using NUnit.Framework;
using Grpc.Core;
using Grpc.Net.Client;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Store;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Issue 14 point 9, the limits on one connection's streams, against a real daemon on loopback:
/// max-streams-per-connection (calls past it wait in the client, none fails), and the
/// stream-idle-timeout on responses (a client that stops reading a large ReadBlob holds the daemon's
/// stream and the blob's descriptor no longer than that).
/// </summary>
[CancelAfter(120_000)]
public sealed class DaemonStreamLimitsTests
{
    private TestStore _store = null!;
    private TestDaemon? _daemon;

    [SetUp]
    public void CreateStore() => _store = TestStore.Create(StoreKind.Local);

    [TearDown]
    public async Task Stop()
    {
        if (_daemon is not null)
            await _daemon.DisposeAsync();
        await _store.DisposeAsync();
    }

    /// <summary>A channel that keeps to one HTTP/2 connection (grpc-dotnet's default handler opens more when streams run out).</summary>
    private static GrpcChannel OneConnection(TestDaemon daemon) =>
        GrpcChannel.ForAddress("http://" + daemon.Address["grpc+http://".Length..], new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false },
        });

    [Test]
    public async Task CallsPastMaxStreamsPerConnectionWaitInTheClientAndAllSucceed()
    {
        const int limit = 4, calls = 16;
        var blobs = new HeldStatBlobService(_store.Services.Blobs);
        var store = new StoreServices(blobs, _store.Services.Directories, _store.Services.PathInfos);
        _daemon = await TestDaemon.StartAsync(Transport.Tcp, store, options: new DaemonOptions { Limits = new DaemonLimits { MaxStreamsPerConnection = limit } });
        using GrpcChannel channel = OneConnection(_daemon);
        var client = new BlobService.BlobServiceClient(channel);
        B3Digest digest = await TestTrees.PutBlobAsync(_store.Services.Blobs, "held"u8.ToArray());
        var request = new StatBlobRequest { Digest = digest.ToByteString() };

        Task<StatBlobResponse>[] stats = Enumerable.Range(0, calls)
            .Select(_ => TaskOf(client.StatAsync(request, deadline: DateTime.UtcNow.AddSeconds(60)))).ToArray();
        var settle = Stopwatch.StartNew();
        while (blobs.Waiting < limit && settle.Elapsed < TimeSpan.FromSeconds(20))
            await Task.Delay(20);
        await Task.Delay(1000); // time for any call past the limit to arrive, if the daemon let it
        Assert.That(blobs.Waiting, Is.EqualTo(limit), $"calls the daemon is serving on the one connection (limit {limit})");
        Assert.That(stats.Any(s => s.IsCompleted), Is.False, "no call past the limit was refused or failed: they wait in the client");

        blobs.Release();
        StatBlobResponse[] answered = await Task.WhenAll(stats).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(answered, Has.Length.EqualTo(calls), "every call succeeded once streams freed up");
        Assert.That(blobs.MostWaiting, Is.EqualTo(limit), "never more than the limit at once");
    }

    private static Task<T> TaskOf<T>(AsyncUnaryCall<T> call) => call.ResponseAsync;

    [Test]
    public async Task AClientThatStopsReadingALargeBlobHoldsItsDescriptorNoLongerThanTheStreamIdleTimeout()
    {
        // 64 MiB: far more than the client's HTTP/2 window, the daemon's response buffer and both
        // sockets' buffers together, so the daemon's writes stop when the client stops reading.
        // Kestrel's minimum response data rate (on by default) never fires here: it does not count
        // time blocked on the client's HTTP/2 window. Without the daemon's own write timeout the
        // descriptor was still held after 50 s.
        (B3Digest digest, string blobFile, int length) = await LargeBlobBehindADaemonAsync(StallIdle, seed: 5);
        using GrpcChannel channel = OneConnection(_daemon!);
        using var read = new BlobService.BlobServiceClient(channel).Read(new ReadBlobRequest { Digest = digest.ToByteString() });
        Assert.That(await read.ResponseStream.MoveNext(), Is.True, "the first chunk arrives");
        var stalled = Stopwatch.StartNew();
        Assert.That(DescriptorsOf(blobFile), Is.EqualTo(1), "the daemon holds the blob open while it sends");

        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.That(DescriptorsOf(blobFile), Is.EqualTo(1), "still held while the client is merely slow (inside the timeout)");
        TimeSpan freed = await AssertFreedWithinTheBoundAsync(blobFile, stalled);

        // The client finds its stream broken (what it had buffered first), never the whole blob.
        long received = 0;
        var failure = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await read.ResponseStream.MoveNext())
                received += read.ResponseStream.Current.Data.Length;
        });
        Assert.That(received, Is.LessThan(length));
        TestContext.Out.WriteLine($"freed after {freed.TotalSeconds:0.0} s; the client saw {failure!.StatusCode} after {received} more bytes");
    }

    [Test]
    public async Task AClientThatStopsReadingABlobBatchHoldsItsBlobsNoLongerThanTheStreamIdleTimeout()
    {
        // Our BlobBatchService holds up to 33 blobs open ahead of what it sends: the same bound as Read.
        (B3Digest digest, string blobFile, _) = await LargeBlobBehindADaemonAsync(StallIdle, seed: 6);
        using GrpcChannel channel = OneConnection(_daemon!);
        var request = new TvixLowFs.Protos.Extensions.ReadBlobsRequest();
        request.Digests.Add(digest.ToByteString());
        using var read = new TvixLowFs.Protos.Extensions.BlobBatchService.BlobBatchServiceClient(channel).ReadBlobs(request);
        Assert.That(await read.ResponseStream.MoveNext(), Is.True, "the first message arrives");
        var stalled = Stopwatch.StartNew();
        Assert.That(DescriptorsOf(blobFile), Is.EqualTo(1), "the daemon holds the blob open while it sends");

        await AssertFreedWithinTheBoundAsync(blobFile, stalled);
        await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await read.ResponseStream.MoveNext()) { }
        });
    }

    /// <summary>The stream-idle-timeout of the stall tests.</summary>
    private static readonly TimeSpan StallIdle = TimeSpan.FromSeconds(4);

    /// <summary>
    /// A 64 MiB blob in the local store (far more than the client's HTTP/2 window, the daemon's
    /// response buffer and both sockets' buffers together) and a daemon on it with
    /// stream-idle-timeout <paramref name="idle"/>; the blob's digest, file and length.
    /// </summary>
    private async Task<(B3Digest Digest, string File, int Length)> LargeBlobBehindADaemonAsync(TimeSpan idle, int seed)
    {
        byte[] data = TestTrees.Pattern(64 << 20, seed: seed);
        B3Digest digest = await TestTrees.PutBlobAsync(_store.Services.Blobs, data, chunk: 1 << 20);
        string blobFile = Path.Join(_store.Directory!, "blobs", digest.ToHex()[..2], digest.ToHex());
        _daemon = await TestDaemon.StartAsync(Transport.Tcp, _store.Services, options: new DaemonOptions { Limits = new DaemonLimits { StreamIdleTimeout = idle } });
        return (digest, blobFile, data.Length);
    }

    /// <summary>The bound: stream-idle-timeout for one message to be taken, plus scheduling slack; returns when the blob was let go.</summary>
    private static async Task<TimeSpan> AssertFreedWithinTheBoundAsync(string blobFile, Stopwatch stalled)
    {
        TimeSpan bound = StallIdle + TimeSpan.FromSeconds(6);
        while (DescriptorsOf(blobFile) > 0 && stalled.Elapsed < bound + TimeSpan.FromSeconds(30))
            await Task.Delay(200);
        TimeSpan freed = stalled.Elapsed;
        Assert.That(DescriptorsOf(blobFile), Is.Zero, $"the daemon let go of the blob within {bound.TotalSeconds:0} s of the client stalling");
        Assert.That(freed, Is.LessThan(bound), "within the documented bound");
        return freed;
    }

    /// <summary>Descriptors of this process (the in-process daemon) open on <paramref name="path"/>.</summary>
    private static int DescriptorsOf(string path)
    {
        int count = 0;
        foreach (string fd in System.IO.Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget == path)
                    count++;
            }
            catch (IOException)
            {
                // closed while we looked
            }
        }
        return count;
    }
}
