using NUnit.Framework;
using Google.Protobuf;
using Grpc.Core;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Model;
using TvixLowFs.Tests.Store;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Issue 14 point 12, <c>--read-only</c>: every Put is PERMISSION_DENIED and stores nothing, while
/// everything already stored is served as before.
/// </summary>
[CancelAfter(60_000)]
public sealed class DaemonWritePolicyTests
{
    [Test]
    public async Task AReadOnlyDaemonRefusesEveryPutAndServesReads()
    {
        await using var store = TestStore.Create(StoreKind.Local);
        byte[] bytes = Samples.Bytes(1000, 1);
        await using (var writer = store.Services.Blobs.OpenWrite())
        {
            await writer.WriteAsync(bytes);
            await writer.CloseAsync();
        }
        await using var daemon = await TestDaemon.StartAsync(Transport.Tcp, store.Services, options: new DaemonOptions { ReadOnly = true });
        using var channel = daemon.OpenPlainChannel();
        var blobs = new BlobService.BlobServiceClient(channel);
        var directories = new DirectoryService.DirectoryServiceClient(channel);
        var pathInfos = new PathInfoService.PathInfoServiceClient(channel);
        var deadline = new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30));

        async Task<RpcException> Refused(Func<Task> call)
        {
            try
            {
                await call();
            }
            catch (RpcException e)
            {
                return e;
            }
            throw new AssertionException("a Put succeeded on a read-only daemon");
        }

        var blob = await Refused(async () =>
        {
            using var put = blobs.Put(deadline);
            try
            {
                await put.RequestStream.WriteAsync(new BlobChunk { Data = ByteString.CopyFrom(Samples.Bytes(10, 2)) });
                await put.RequestStream.CompleteAsync();
            }
            catch (Exception e) when (e is RpcException or InvalidOperationException)
            {
                // the answer is the response's status
            }
            await put;
        });
        var directory = await Refused(async () =>
        {
            using var put = directories.Put(deadline);
            try
            {
                await put.RequestStream.WriteAsync(new Directory { Files = { Samples.File("f", bytes) } });
                await put.RequestStream.CompleteAsync();
            }
            catch (Exception e) when (e is RpcException or InvalidOperationException)
            {
            }
            await put;
        });
        var pathInfo = await Refused(async () => await pathInfos.PutAsync(Samples.PathInfo(), deadline));
        foreach (var e in new[] { blob, directory, pathInfo })
        {
            Assert.That(e.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
            Assert.That(e.Status.Detail, Does.Contain("read-only"));
        }

        Assert.That(System.IO.Directory.GetFiles(Path.Join(store.Directory!, "directories"), "*", SearchOption.AllDirectories), Is.Empty);
        Assert.That(System.IO.Directory.GetFiles(Path.Join(store.Directory!, "pathinfos")), Is.Empty);
        Assert.That(System.IO.Directory.GetFiles(Path.Join(store.Directory!, "blobs"), "*", SearchOption.AllDirectories), Has.Length.EqualTo(1));

        // Reads are unchanged.
        using var read = blobs.Read(new ReadBlobRequest { Digest = B3Digest.Compute(bytes).ToByteString() }, deadline);
        var received = new List<byte>();
        await foreach (var chunk in read.ResponseStream.ReadAllAsync())
            received.AddRange(chunk.Data);
        Assert.That(received.ToArray(), Is.EqualTo(bytes));
    }
}
