using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.NarBridge;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.NarBridge;

/// <summary>
/// Rendering a NAR allocates per response, not per chunk: serving a 256 MiB file (1,024 chunks of
/// 256 KiB) allocates, in the whole process, little more than serving a 1 MiB file does: what is
/// left is Kestrel's, about half a KiB per flush that waits for the socket (one per MiB). The
/// client is a raw socket reading into one buffer, so its own allocations do not grow with the size.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class NarRenderingAllocationTests
{
    [Test]
    [CancelAfter(120_000)]
    public async Task RenderingAllocatesNothingPerChunk()
    {
        string directory = Path.Combine(Path.GetTempPath(), "tvixlowfs-narbridge-alloc-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        try
        {
            var store = new StoreOpener().Open(StoreAddress.ForLocalDirectory(directory));
            await using var bridge = await InProcessNarBridge.StartAsync(new NarBridgeOptions(), store);
            string small = await AddFileAsync(store, "small", 1 << 20);
            string large = await AddFileAsync(store, "large", 256 << 20);
            var baseUrl = new Uri(bridge.BaseUrl);
            // Warm up both paths (JIT, pools), then measure each once more.
            await FetchAsync(baseUrl, small);
            await FetchAsync(baseUrl, large);
            long smallBytes = await AllocatedWhileAsync(() => FetchAsync(baseUrl, small));
            long largeBytes = await AllocatedWhileAsync(() => FetchAsync(baseUrl, large));
            TestContext.Out.WriteLine($"allocated: 1 MiB NAR {smallBytes} bytes, 256 MiB NAR {largeBytes} bytes");
            // 255 MiB more: at most 2 KiB per MiB (Kestrel's flushes take ~0.5 KiB each; copying each
            // chunk through the pipe's 4 KiB blocks instead took 8 KiB per MiB).
            Assert.That(largeBytes - smallBytes, Is.LessThan(255 * 2048), $"1 MiB: {smallBytes} bytes allocated, 256 MiB: {largeBytes}");
        }
        finally
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<long> AllocatedWhileAsync(Func<Task> action)
    {
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await action();
        return GC.GetTotalAllocatedBytes(precise: true) - before;
    }

    /// <summary>Stores one file of <paramref name="size"/> bytes as a store path; returns the URL of its NAR.</summary>
    private static async Task<string> AddFileAsync(StoreServices store, string name, int size)
    {
        var bytes = new byte[size];
        new Random(size).NextBytes(bytes);
        await using var writer = store.Blobs.OpenWrite();
        await writer.WriteAsync(bytes);
        B3Digest digest = await writer.CloseAsync();
        var hash = StorePathHash.FromBytes(System.Security.Cryptography.SHA1.HashData(Encoding.UTF8.GetBytes(name)));
        string basename = BridgeRoute.HashText(hash) + "-" + name;
        var node = new Node { File = new FileNode { Name = ByteString.CopyFromUtf8(basename), Digest = digest.ToByteString(), Size = (ulong)size } };
        var nar = await store.PathInfos.CalculateNarAsync(node);
        await store.PathInfos.PutAsync(new PathInfo
        {
            Node = node,
            Narinfo = new NARInfo { NarSize = nar.NarSize, NarSha256 = ByteString.CopyFrom(nar.NarSha256) },
        });
        return "/" + BridgeRoute.RenderedNarUrl(hash, nar.NarSha256);
    }

    private static async Task FetchAsync(Uri baseUrl, string path)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(baseUrl.Host, baseUrl.Port);
        NetworkStream stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        byte[] buffer = new byte[1 << 20];
        long total = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
            total += read;
        Assert.That(total, Is.GreaterThan(1 << 20));
    }
}
