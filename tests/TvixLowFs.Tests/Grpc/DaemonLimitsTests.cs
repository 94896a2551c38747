using NUnit.Framework;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Extensions;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Model;
using TvixLowFs.Tests.Store;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Issue 14 point 9: each daemon limit, hit by a plain gRPC client, answers RESOURCE_EXHAUSTED (or
/// INVALID_ARGUMENT) naming the limit, and the local store behind the daemon holds nothing after it:
/// no blob, directory or PathInfo, and no temp file.
/// </summary>
[CancelAfter(120_000)]
public sealed class DaemonLimitsTests
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

    private async Task<GrpcChannel> StartAsync(DaemonLimits limits)
    {
        _daemon = await TestDaemon.StartAsync(Transport.Tcp, _store.Services, options: new DaemonOptions { Limits = limits });
        return _daemon.OpenPlainChannel();
    }

    private string[] FilesUnder(string folder) =>
        System.IO.Directory.GetFiles(Path.Join(_store.Directory!, folder), "*", SearchOption.AllDirectories);

    private void AssertNothingStored()
    {
        Assert.That(FilesUnder("blobs"), Is.Empty, "no blob was stored");
        Assert.That(FilesUnder("directories"), Is.Empty, "no directory was stored");
        Assert.That(FilesUnder("pathinfos"), Is.Empty, "no PathInfo was stored");
        Assert.That(FilesUnder("tmp"), Is.Empty, "no temp file was left");
    }

    private static CallOptions Deadline(int seconds = 60) => new(deadline: DateTime.UtcNow.AddSeconds(seconds));

    private static async Task<RpcException> FailsAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (RpcException e)
        {
            return e;
        }
        Assert.Fail("the call succeeded; expected the daemon to refuse it");
        throw new InvalidOperationException();
    }

    /// <summary>Sends the blob; a daemon that ends the call early makes a write fail, and the response then carries its status.</summary>
    private static async Task PutBlobAsync(BlobService.BlobServiceClient blobs, byte[] bytes, int chunk)
    {
        using var put = blobs.Put(Deadline());
        try
        {
            for (int offset = 0; offset < bytes.Length; offset += chunk)
                await put.RequestStream.WriteAsync(new BlobChunk { Data = ByteString.CopyFrom(bytes, offset, Math.Min(chunk, bytes.Length - offset)) });
            await put.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
        {
            // The status is the response's.
        }
        await put;
    }

    [Test]
    public async Task ABlobOverMaxBlobBytesIsRefusedAndNothingIsStored()
    {
        using var channel = await StartAsync(new DaemonLimits { MaxBlobBytes = 100_000 });
        var blobs = new BlobService.BlobServiceClient(channel);
        await PutBlobAsync(blobs, Samples.Bytes(100_000, 1), chunk: 10_000); // exactly the limit is fine
        foreach (string file in FilesUnder("blobs"))
            File.Delete(file);

        var e = await FailsAsync(() => PutBlobAsync(blobs, Samples.Bytes(150_000, 2), chunk: 10_000));
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(e.Status.Detail, Does.Contain("max-blob-bytes").And.Contain("100000"));
        AssertNothingStored();
    }

    private static void AssertNamesMaxMessageBytes(RpcException e, string call)
    {
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted), call + ": " + e.Status.Detail);
        Assert.That(e.Status.Detail, Does.Contain("(max-message-bytes)").And.Contain("65536"), call);
    }

    [Test]
    public async Task AMessageOverMaxMessageBytesIsRefusedNamingTheLimitOnStreamsAndUnaryCalls()
    {
        using var channel = await StartAsync(new DaemonLimits { MaxMessageBytes = 65_536 });
        var blobs = new BlobService.BlobServiceClient(channel);
        var directories = new DirectoryService.DirectoryServiceClient(channel);
        var pathInfos = new PathInfoService.PathInfoServiceClient(channel);
        var oversized = ByteString.CopyFrom(Samples.Bytes(70_000, 3));

        // Client streams.
        AssertNamesMaxMessageBytes(await FailsAsync(() => PutBlobAsync(blobs, Samples.Bytes(100_000, 3), chunk: 100_000)), "BlobService.Put");
        var wide = new Directory();
        for (int i = 0; i < 2_000; i++)
            wide.Files.Add(Samples.File($"file-with-a-longish-name-{i:D5}", [(byte)i]));
        Assert.That(wide.CalculateSize(), Is.GreaterThan(65_536));
        AssertNamesMaxMessageBytes(await FailsAsync(async () =>
        {
            using var put = directories.Put(Deadline());
            try
            {
                await put.RequestStream.WriteAsync(wide);
                await put.RequestStream.CompleteAsync();
            }
            catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
            {
                // the answer is the response's status
            }
            await put;
        }), "DirectoryService.Put");

        // Unary requests (and the request of a server stream), refused while the request is read.
        PathInfo large = Samples.PathInfo();
        large.Narinfo.ReferenceNames[0] = new string('a', 70_000);
        AssertNamesMaxMessageBytes(await FailsAsync(async () => await pathInfos.PutAsync(large, Deadline())), "PathInfoService.Put");
        AssertNamesMaxMessageBytes(await FailsAsync(async () => await blobs.StatAsync(new StatBlobRequest { Digest = oversized }, Deadline())), "BlobService.Stat");
        AssertNamesMaxMessageBytes(await FailsAsync(async () =>
        {
            using var get = directories.Get(new GetDirectoryRequest { Digest = oversized }, Deadline());
            await foreach (var _ in get.ResponseStream.ReadAllAsync())
            {
            }
        }), "DirectoryService.Get");
        AssertNothingStored();

        // Just under the limit is read (and refused or answered on its merits).
        var fits = await FailsAsync(async () => await blobs.StatAsync(new StatBlobRequest { Digest = ByteString.CopyFrom(new byte[60_000]) }, Deadline()));
        Assert.That(fits.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), fits.Status.Detail);
        Assert.That(await pathInfos.PutAsync(Samples.PathInfo(), Deadline()), Is.EqualTo(Samples.PathInfo()), "small messages still pass");
    }

    [Test]
    public async Task AMessagePrefixDeclaringMoreThanMaxMessageBytesIsRefusedBeforeThePayloadArrives()
    {
        await StartAsync(new DaemonLimits { MaxMessageBytes = 65_536 });
        // A raw HTTP/2 gRPC request: one prefix declaring a 1 GiB PathInfo, then the body ends without
        // its payload. The refusal naming the limit can only come from the prefix (a reader that
        // waited for the payload would see a truncated message instead).
        using var client = new HttpClient();
        var body = new PrefixOnly(1 << 30);
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://" + _daemon!.Address["grpc+http://".Length..] + "/tvix.store.v1.PathInfoService/Put")
        {
            Content = body,
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            await response.Content.CopyToAsync(Stream.Null, timeout.Token);
            string? status = Header(response, "grpc-status");
            string? message = Header(response, "grpc-message");
            Assert.That(status, Is.EqualTo(((int)StatusCode.ResourceExhausted).ToString(System.Globalization.CultureInfo.InvariantCulture)),
                $"http {(int)response.StatusCode} {response.Version}: {response.Headers} / {response.TrailingHeaders}");
            Assert.That(Uri.UnescapeDataString(message ?? ""), Does.Contain("1073741824 bytes").And.Contain("(max-message-bytes)"));
        }
        AssertNothingStored();
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.TrailingHeaders.TryGetValues(name, out var t) ? t.First()
        : response.Headers.TryGetValues(name, out var h) ? h.First() : null;

    /// <summary>A gRPC request body of one message prefix and none of the payload it declares.</summary>
    private sealed class PrefixOnly(int declaredLength) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            var prefix = new byte[5];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(prefix.AsSpan(1), declaredLength);
            await stream.WriteAsync(prefix);
            await stream.FlushAsync();
            await Task.Delay(500);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Test]
    public async Task IdlePutStreamsHoldNoTempFileAndEndAfterTheIdleTimeout()
    {
        using var channel = await StartAsync(new DaemonLimits { StreamIdleTimeout = TimeSpan.FromSeconds(2) });
        var blobs = new BlobService.BlobServiceClient(channel);
        var idle = Enumerable.Range(0, 8).Select(_ => blobs.Put(Deadline())).ToList();
        var stalled = blobs.Put(Deadline());
        await stalled.RequestStream.WriteAsync(new BlobChunk { Data = ByteString.CopyFrom(Samples.Bytes(1000, 4)) });
        try
        {
            // A call on the same connection after them: the daemon has seen the idle streams open.
            var stat = await FailsAsync(async () => await blobs.StatAsync(new StatBlobRequest { Digest = B3Digest.Compute("x"u8).ToByteString() }, Deadline()));
            Assert.That(stat.StatusCode, Is.EqualTo(StatusCode.NotFound));
            Assert.That(FilesUnder("tmp"), Has.Length.LessThanOrEqualTo(1), "only the stream that sent bytes may hold a temp file");

            foreach (var call in idle.Append(stalled))
            {
                var e = await FailsAsync(async () => await call.ResponseAsync);
                Assert.That(e.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
                Assert.That(e.Status.Detail, Does.Contain("stream-idle-timeout"));
            }
        }
        finally
        {
            foreach (var call in idle.Append(stalled))
                call.Dispose();
        }
        AssertNothingStored();
    }

    [Test]
    public async Task PutStreamsOverMaxConcurrentPutsAreRefusedUntilOneEnds()
    {
        using var channel = await StartAsync(new DaemonLimits { MaxConcurrentPuts = 2 });
        var blobs = new BlobService.BlobServiceClient(channel);
        var open = new[] { blobs.Put(Deadline()), blobs.Put(Deadline()) };
        foreach (var call in open)
            await call.RequestStream.WriteAsync(new BlobChunk { Data = ByteString.CopyFrom(Samples.Bytes(10, 5)) });

        // Each handler opens its temp file when its first bytes arrive: two files, two slots held.
        for (int attempt = 0; attempt < 300 && FilesUnder("tmp").Length < 2; attempt++)
            await Task.Delay(50);
        Assert.That(FilesUnder("tmp"), Has.Length.EqualTo(2), "both Put streams are being received");

        using var third = blobs.Put(Deadline());
        try
        {
            await third.RequestStream.WriteAsync(new BlobChunk { Data = ByteString.CopyFrom(Samples.Bytes(10, 6)) });
            await third.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
        {
            // the answer is the response's status
        }
        var refused = await FailsAsync(async () => await third.ResponseAsync);
        Assert.That(refused.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(refused.Status.Detail, Does.Contain("max-concurrent-puts"));

        foreach (var call in open)
        {
            await call.RequestStream.CompleteAsync();
            await call;
            call.Dispose();
        }
        await PutBlobAsync(blobs, Samples.Bytes(10, 7), chunk: 10); // slots are given back
    }

    [Test]
    public async Task ADirectoryOverMaxDirectoryEntriesIsRefusedAndNothingIsStored()
    {
        using var channel = await StartAsync(new DaemonLimits { MaxDirectoryEntries = 10 });
        var directories = new DirectoryService.DirectoryServiceClient(channel);
        var leaf = new Directory { Files = { Samples.File("f", [1]) } };
        var wide = new Directory { Directories = { Samples.Child("leaf", leaf) } };
        for (int i = 0; i < 10; i++)
            wide.Files.Add(Samples.File($"file{i:D2}", [(byte)i]));

        using var put = directories.Put(Deadline());
        await put.RequestStream.WriteAsync(leaf);
        await put.RequestStream.WriteAsync(wide);
        await put.RequestStream.CompleteAsync();
        var e = await FailsAsync(async () => await put.ResponseAsync);
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(e.Status.Detail, Does.Contain("max-directory-entries").And.Contain("11 entries"));
        AssertNothingStored();
    }

    [Test]
    public async Task ADirectoryGraphOverMaxDirectoryGraphEntriesIsRefusedAndNothingIsStored()
    {
        using var channel = await StartAsync(new DaemonLimits { MaxDirectoryGraphEntries = 20 });
        var directories = new DirectoryService.DirectoryServiceClient(channel);
        using var put = directories.Put(Deadline());
        // The daemon answers as soon as the graph goes past the limit: a write after that fails with
        // the call's status (a race on a busy machine); the status is checked on the response below.
        async Task<bool> WroteAsync(Directory directory)
        {
            try
            {
                await put.RequestStream.WriteAsync(directory);
                return true;
            }
            catch (RpcException)
            {
                return false;
            }
        }
        // Distinct leaves of 5 files each count 6 (entries and the message): the fourth goes past 20.
        var root = new Directory();
        for (int d = 0; d < 4; d++)
        {
            var leaf = new Directory();
            for (int f = 0; f < 5; f++)
                leaf.Files.Add(Samples.File($"f{f}", [(byte)d, (byte)f]));
            root.Directories.Add(Samples.Child($"d{d}", leaf));
            if (!await WroteAsync(leaf))
                break;
        }
        if (await WroteAsync(root))
            await put.RequestStream.CompleteAsync();
        var e = await FailsAsync(async () => await put.ResponseAsync);
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(e.Status.Detail, Does.Contain("max-directory-graph-entries"));
        AssertNothingStored();
    }

    [Test]
    public async Task APathInfoOverMaxReferencesOrMaxSignaturesIsRefusedAndNothingIsStored()
    {
        using var channel = await StartAsync(new DaemonLimits { MaxReferences = 2, MaxSignatures = 1 });
        var pathInfos = new PathInfoService.PathInfoServiceClient(channel);

        PathInfo references = Samples.PathInfo();
        references.References.Add(ByteString.CopyFrom(new byte[20]));
        references.References.Add(ByteString.CopyFrom(Enumerable.Repeat((byte)1, 20).ToArray()));
        var e = await FailsAsync(async () => await pathInfos.PutAsync(references, Deadline()));
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(e.Status.Detail, Does.Contain("max-references").And.Contain("3 references"));

        PathInfo signatures = Samples.PathInfo();
        signatures.Narinfo.Signatures.Add(new NARInfo.Types.Signature { Name = "other-1", Data = ByteString.CopyFrom(new byte[64]) });
        e = await FailsAsync(async () => await pathInfos.PutAsync(signatures, Deadline()));
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(e.Status.Detail, Does.Contain("max-signatures"));
        AssertNothingStored();

        Assert.That(await pathInfos.PutAsync(Samples.PathInfo(), Deadline()), Is.EqualTo(Samples.PathInfo()), "within the limits it is stored");
    }

    [Test]
    public async Task AReadBlobsRequestNamingTooManyDigestsIsRefusedByItsSizeBeforeItIsParsed()
    {
        using var channel = await StartAsync(new DaemonLimits());
        var batch = new BlobBatchService.BlobBatchServiceClient(channel);
        ReadBlobsRequest Request(int count)
        {
            var request = new ReadBlobsRequest();
            for (int i = 0; i < count; i++)
                request.Digests.Add(B3Digest.Compute(BitConverter.GetBytes(i)).ToByteString());
            return request;
        }
        async Task<RpcException> Read(ReadBlobsRequest request) => await FailsAsync(async () =>
        {
            using var call = batch.ReadBlobs(request, Deadline());
            await foreach (var _ in call.ResponseStream.ReadAllAsync())
            {
            }
        });

        var tooLarge = await Read(Request(20_000));
        Assert.That(tooLarge.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted), tooLarge.Status.Detail);
        Assert.That(tooLarge.Status.Detail, Does.Contain("maximum configured message size"));

        var oneTooMany = await Read(Request(BlobBatchEndpoint.MaxDigests + 1));
        Assert.That(oneTooMany.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(oneTooMany.Status.Detail, Does.Contain($"at most {BlobBatchEndpoint.MaxDigests} digests"));

        // The largest allowed request is read: every digest is missing here.
        using var allowed = batch.ReadBlobs(Request(BlobBatchEndpoint.MaxDigests), Deadline());
        int missing = 0;
        await foreach (var response in allowed.ResponseStream.ReadAllAsync())
            missing += response.Parts.Count(p => p.Missing);
        Assert.That(missing, Is.EqualTo(BlobBatchEndpoint.MaxDigests));
    }

    [Test]
    public async Task ConnectionsOverMaxConnectionsAreClosedUntilOneEnds()
    {
        await StartAsync(new DaemonLimits { MaxConnections = 2 });
        var probe = new StatBlobRequest { Digest = B3Digest.Compute("x"u8).ToByteString() };
        async Task<StatusCode> StatOn(GrpcChannel channel)
        {
            try
            {
                await new BlobService.BlobServiceClient(channel).StatAsync(probe, Deadline(20));
                return StatusCode.OK;
            }
            catch (RpcException e)
            {
                return e.StatusCode;
            }
        }
        // Each plain channel has its own handler, so its own connection, kept open between calls.
        var first = _daemon!.OpenPlainChannel();
        using var second = _daemon.OpenPlainChannel();
        using var third = _daemon.OpenPlainChannel();
        Assert.That(await StatOn(first), Is.EqualTo(StatusCode.NotFound));
        Assert.That(await StatOn(second), Is.EqualTo(StatusCode.NotFound));
        Assert.That(await StatOn(third), Is.EqualTo(StatusCode.Unavailable), "a third connection is closed as it arrives");

        first.Dispose(); // its connection closes; the daemon notices in its own time
        StatusCode later = StatusCode.Unavailable;
        for (int attempt = 0; attempt < 200 && later == StatusCode.Unavailable; attempt++)
        {
            later = await StatOn(third);
            if (later == StatusCode.Unavailable)
                await Task.Delay(50);
        }
        Assert.That(later, Is.EqualTo(StatusCode.NotFound));
    }

    [Test]
    public async Task APutTrickledBelowMinDataRateIsRefusedAndNothingIsStored()
    {
        // 10 bytes every 200 ms against a floor of 1,000 bytes a second; the idle timeout (60 s) is not what ends it.
        using var channel = await StartAsync(new DaemonLimits { MinDataRate = 1000 });
        var blobs = new BlobService.BlobServiceClient(channel);
        using var put = blobs.Put(Deadline(90));
        try
        {
            // Bounded: the grace is 10 s, so the daemon answers long before the 300 messages are sent.
            for (int message = 0; message < 300 && !put.ResponseAsync.IsCompleted; message++)
            {
                await put.RequestStream.WriteAsync(new BlobChunk { Data = ByteString.CopyFrom(Samples.Bytes(10, message)) });
                await Task.Delay(200);
            }
            await put.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
        {
            // the answer is the response's status
        }
        var refused = await FailsAsync(async () => await put.ResponseAsync);
        Assert.That(refused.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted), refused.Status.Detail);
        Assert.That(refused.Status.Detail, Does.Contain("min-data-rate"));
        AssertNothingStored();
    }
}
