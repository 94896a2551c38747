using Grpc.Core;
using NUnit.Framework;
using TvixLowFs.Protos.Extensions;
using TvixLowFs.Store;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Memory;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;
using TvixLowFs.Filesystem;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Our BlobBatchService extension end to end over a real daemon: many blobs per call, in order,
/// verified into the read-through cache; and against a daemon without it (like tvix-store), the
/// same results blob by blob.
/// </summary>
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class BlobBatchTests
{
    private static readonly GrpcClientOptions ShortTimeout = new() { Timeout = TimeSpan.FromSeconds(5) };
    private TemporaryCacheDirectory _cache = null!;

    [SetUp]
    public void CreateCacheDirectory() => _cache = new TemporaryCacheDirectory("batch");

    [TearDown]
    public void RemoveCacheDirectory() => _cache.Dispose();


    private static async Task<B3Digest> PutAsync(IBlobService blobs, byte[] bytes)
    {
        await using var writer = blobs.OpenWrite();
        await writer.WriteAsync(bytes);
        return await writer.CloseAsync();
    }

    /// <summary>Small blobs, an empty one, one larger than a response message, and one the daemon lacks.</summary>
    private static async Task<(B3Digest Digest, byte[]? Bytes)[]> AddBlobsAsync(IBlobService blobs)
    {
        var result = new List<(B3Digest, byte[]?)>();
        for (int i = 0; i < 5; i++)
        {
            byte[] small = Samples.Bytes(100 + 997 * i, 40 + i);
            result.Add((await PutAsync(blobs, small), small));
        }
        result.Add((await PutAsync(blobs, []), []));
        byte[] large = Samples.Bytes(2_500_001, 50);
        result.Add((await PutAsync(blobs, large), large));
        result.Add((B3Digest.Compute("never stored"u8), null));
        byte[] last = Samples.Bytes(3, 51);
        result.Add((await PutAsync(blobs, last), last));
        return [.. result];
    }

    /// <summary>Collects what a batch delivers, checking the order the protocol promises.</summary>
    private sealed class RecordingSink(int count) : IBlobBatchSink
    {
        public readonly MemoryStream?[] Blobs = new MemoryStream?[count];
        public readonly bool[] Missing = new bool[count];
        public readonly bool[] Ended = new bool[count];
        public int Parts;
        private int _current;

        public void Part(int index, ReadOnlySpan<byte> data, bool last)
        {
            Assert.That(index, Is.EqualTo(_current), "blobs arrive in the order asked, each one's parts together");
            (Blobs[index] ??= new MemoryStream()).Write(data);
            Parts++;
            if (last)
            {
                Ended[index] = true;
                _current++;
            }
        }

        void IBlobBatchSink.Missing(int index)
        {
            Assert.That(index, Is.EqualTo(_current));
            Missing[index] = true;
            _current++;
        }
    }

    [Test]
    public async Task OneCallStreamsEveryBlobInOrder()
    {
        await using var daemon = await TestDaemon.StartAsync(Transport.Unix);
        var blobs = await AddBlobsAsync(daemon.Store.Blobs);
        using var connector = new GrpcStoreConnector(ShortTimeout);
        await using var remote = (GrpcBlobService)await connector.OpenBlobServiceAsync(StoreAddress.Parse(daemon.Address));

        var sink = new RecordingSink(blobs.Length);
        Assert.That(await remote.ReadBlobsAsync(blobs.Select(b => b.Digest).ToArray(), sink, CancellationToken.None), Is.True);
        for (int i = 0; i < blobs.Length; i++)
        {
            if (blobs[i].Bytes is { } bytes)
            {
                Assert.That(sink.Ended[i] && !sink.Missing[i], Is.True, $"blob {i} delivered");
                Assert.That(sink.Blobs[i]!.ToArray(), Is.EqualTo(bytes), $"blob {i}");
            }
            else
            {
                Assert.That(sink.Missing[i] && sink.Blobs[i] is null, Is.True, $"blob {i} reported missing");
            }
        }
        // The large one cannot travel in one part; the small ones need no more than one each.
        Assert.That(sink.Parts, Is.GreaterThan(blobs.Length));
        Assert.That(remote.BatchReadsAvailable, Is.True);
    }

    [Test]
    public async Task ALongBatchArrivesInOrderPastTheBlobsTheDaemonOpensAhead()
    {
        await using var daemon = await TestDaemon.StartAsync(Transport.Unix);
        int count = TvixLowFs.Store.Grpc.Server.BlobBatchEndpoint.OpenAhead * 3 + 5;
        var blobs = new (B3Digest Digest, byte[]? Bytes)[count];
        for (int i = 0; i < count; i++)
        {
            byte[] bytes = Samples.Bytes(50 + 131 * i, 500 + i);
            // Every seventh one the daemon never had.
            blobs[i] = i % 7 == 3 ? (B3Digest.Compute(bytes), null) : (await PutAsync(daemon.Store.Blobs, bytes), bytes);
        }
        using var connector = new GrpcStoreConnector(ShortTimeout);
        await using var remote = (GrpcBlobService)await connector.OpenBlobServiceAsync(StoreAddress.Parse(daemon.Address));

        var sink = new RecordingSink(count);
        Assert.That(await remote.ReadBlobsAsync(blobs.Select(b => b.Digest).ToArray(), sink, CancellationToken.None), Is.True);
        for (int i = 0; i < count; i++)
        {
            if (blobs[i].Bytes is { } bytes)
                Assert.That(sink.Blobs[i]!.ToArray(), Is.EqualTo(bytes), $"blob {i}");
            else
                Assert.That(sink.Missing[i], Is.True, $"blob {i} reported missing");
        }
    }

    [Test]
    public async Task TheDaemonRefusesMalformedAndOversizedRequests()
    {
        await using var daemon = await TestDaemon.StartAsync(Transport.Tcp);
        using var channel = daemon.OpenPlainChannel();
        var client = new BlobBatchService.BlobBatchServiceClient(channel);

        async Task<StatusCode> StatusOf(ReadBlobsRequest request)
        {
            try
            {
                using var call = client.ReadBlobs(request);
                while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
                return StatusCode.OK;
            }
            catch (RpcException e)
            {
                return e.StatusCode;
            }
        }

        Assert.That(await StatusOf(new ReadBlobsRequest { Digests = { Google.Protobuf.ByteString.CopyFrom(new byte[5]) } }), Is.EqualTo(StatusCode.InvalidArgument));
        var tooMany = new ReadBlobsRequest();
        for (int i = 0; i <= TvixLowFs.Store.Grpc.Server.BlobBatchEndpoint.MaxDigests; i++)
            tooMany.Digests.Add(B3Digest.Empty.ToByteString());
        Assert.That(await StatusOf(tooMany), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(await StatusOf(new ReadBlobsRequest()), Is.EqualTo(StatusCode.OK), "nothing asked, nothing sent");
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task PrefetchManyFillsTheCacheWithOrWithoutTheExtension(bool blobBatch)
    {
        await using var daemon = await TestDaemon.StartAsync(Transport.Unix, blobBatch: blobBatch);
        var blobs = await AddBlobsAsync(daemon.Store.Blobs);
        using var connector = new GrpcStoreConnector(ShortTimeout);
        var cached = _cache.OpenCached(daemon.Address, connector);
        try
        {
            var prefetch = (IBlobPrefetchTarget)cached.Blobs;
            int failed = await prefetch.PrefetchManyAsync(blobs.Select(b => b.Digest).ToArray(), CancellationToken.None);
            Assert.That(failed, Is.EqualTo(1), "only the blob the daemon lacks is not held");
            var caching = (CachingBlobService)cached.Blobs;
            Assert.That(((GrpcBlobService)caching.Remote).BatchReadsAvailable, Is.EqualTo(blobBatch));
            Assert.That(caching.BlobsFetchedInBatches, Is.EqualTo(blobBatch ? blobs.Length - 1 : 0), "in one call when the daemon has the extension");

            // Everything fetched is served without the daemon.
            await daemon.StopAsync();
            foreach (var (digest, bytes) in blobs.Where(b => b.Bytes is not null))
            {
                using var reader = await cached.Blobs.OpenReadAsync(digest);
                Assert.That(reader!.LocalFile, Is.Not.Null, "served from the cache's file");
                var read = new byte[bytes!.Length];
                Assert.That(await reader.ReadAtAsync(0, read), Is.EqualTo(bytes.Length));
                Assert.That(read, Is.EqualTo(bytes));
            }
        }
        finally
        {
            await cached.DisposeAsync();
        }
        var local = new LocalBlobService(LocalStore.Open(_cache.Path));
        foreach (var (digest, bytes) in blobs.Where(b => b.Bytes is not null))
            Assert.That(await local.StatAsync(digest), Is.EqualTo(bytes!.Length), "named in the cache");
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Combine(_cache.Path, "tmp")), Is.Empty, "no leftover temp file");
        await daemon.RestartAsync();
    }

    [Test]
    public async Task ACorruptBlobInABatchIsDroppedAndTheOthersAreKept()
    {
        byte[] real = Samples.Bytes(20_000, 60);
        var corrupt = B3Digest.Compute(real);
        var blobs = new CorruptingBlobService(corrupt, Samples.Bytes(20_000, 61));
        var directories = new MemoryDirectoryService();
        var store = new StoreServices(blobs, directories, new MemoryPathInfoService(new NarCalculator(blobs, directories)));
        await using var daemon = await TestDaemon.StartAsync(Transport.Unix, store);
        byte[] before = Samples.Bytes(1000, 62), after = Samples.Bytes(2000, 63);
        var digests = new[] { await PutAsync(blobs, before), corrupt, await PutAsync(blobs, after) };
        using var connector = new GrpcStoreConnector(ShortTimeout);
        await using var cached = _cache.OpenCached(daemon.Address, connector);

        Assert.That(await ((IBlobPrefetchTarget)cached.Blobs).PrefetchManyAsync(digests, CancellationToken.None), Is.EqualTo(1));
        // The corrupt one is fetched again by its open, which fails as a single fetch does.
        await Assert.ThrowsAsync<StoreValidationException>(async () => await cached.Blobs.OpenReadAsync(corrupt));
        var local = new LocalBlobService(LocalStore.Open(_cache.Path));
        Assert.That(await local.StatAsync(corrupt), Is.Null, "never kept");
        using (var reader = await cached.Blobs.OpenReadAsync(digests[2]))
            Assert.That(reader!.Length, Is.EqualTo(after.Length));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task TreeReadaheadOverACachingMountFetchesTheWalkAhead(bool blobBatch)
    {
        await using var daemon = await TestDaemon.StartAsync(Transport.Unix, blobBatch: blobBatch);
        // a0..a4 then sub/ (b0..b2, deeper/c0) then z: the walk from a1 covers a2..a4, sub's files, deeper's, z.
        string tree = await new TestTreeWriter(daemon.Store).AddStorePathAsync("tree", new DirSpec(
            ("a0", FileSpec.Text("a0\n")), ("a1", FileSpec.Text("a1\n")), ("a2", FileSpec.Text("a2\n")),
            ("a3", FileSpec.Text("a3\n")), ("a4", FileSpec.Text("a4\n")),
            ("sub", new DirSpec(
                ("b0", FileSpec.Text("b0\n")), ("b1", FileSpec.Text("b1\n")), ("b2", FileSpec.Text("b2\n")),
                ("deeper", new DirSpec(("c0", FileSpec.Text("c0\n")))))),
            ("z", FileSpec.Text("z\n"))), seed: "batch-readahead");
        using var connector = new GrpcStoreConnector(ShortTimeout);
        // Closing the first mount's stores names everything it fetched in the cache.
        await using (var store = _cache.OpenCached(daemon.Address, connector))
        {
            var caching = (CachingBlobService)store.Blobs;
            using (var mount = new InProcessMount(store, new StoreFilesystemOptions()))
            {
                Assert.That(File.ReadAllText(mount.PathOf(tree, "a1")), Is.EqualTo("a1\n"));
                for (int i = 0; i < 3000 && mount.Filesystem.PendingReadaheads > 0; i++)
                    await Task.Delay(10);
                Assert.That(mount.Filesystem.PendingReadaheads, Is.Zero, "readahead finished");
                Assert.That(mount.Filesystem.FilesReadAhead, Is.EqualTo(8));
                Assert.That(caching.BlobsFetchedInBatches, Is.EqualTo(blobBatch ? 8 : 0));

                // Everything the walk reached is in the cache: the daemon is not needed to read it.
                await daemon.StopAsync();
                foreach (string path in new[] { "a2", "a3", "a4", "sub/b0", "sub/b1", "sub/b2", "sub/deeper/c0", "z" })
                    Assert.That(File.ReadAllText(mount.PathOf(tree, path)), Is.EqualTo(Path.GetFileName(path) + "\n"), path);
                Assert.That(Libc.Open(mount.PathOf(tree, "a0"), Libc.O_RDONLY).Errno, Is.EqualTo(Libc.EIO), "before a1: not read ahead");
                await daemon.RestartAsync();
            }
        }

        // A second mount over the warm cache: the walk finds the blobs held and opens them like a
        // local store's (page cache readahead), fetching nothing.
        await using var again = _cache.OpenCached(daemon.Address, connector);
        using (var mount = new InProcessMount(again, new StoreFilesystemOptions()))
        {
            Assert.That(File.ReadAllText(mount.PathOf(tree, "a1")), Is.EqualTo("a1\n"));
            for (int i = 0; i < 3000 && mount.Filesystem.PendingReadaheads > 0; i++)
                await Task.Delay(10);
            Assert.That(mount.Filesystem.FilesReadAhead, Is.EqualTo(8));
            Assert.That(((CachingBlobService)again.Blobs).BlobsFetchedInBatches, Is.Zero);
            Assert.That(mount.Filesystem.LocalBlobsOpen, Is.EqualTo(9), "a1 and the 8 read ahead, open from the cache");
        }
    }

    [Test]
    public async Task OpensDuringABatchShareItsFetches()
    {
        // What the daemon reads, counted per blob.
        var blobs = new CountingBlobService(new MemoryBlobService());
        var directories = new MemoryDirectoryService();
        var store = new StoreServices(blobs, directories, new MemoryPathInfoService(new NarCalculator(blobs, directories)));
        await using var daemon = await TestDaemon.StartAsync(Transport.Unix, store);
        var contents = Enumerable.Range(0, 200).Select(i => Samples.Bytes(3000 + i, 70 + i)).ToArray();
        var digests = new B3Digest[contents.Length];
        for (int i = 0; i < contents.Length; i++)
            digests[i] = await PutAsync(blobs, contents[i]);
        using var connector = new GrpcStoreConnector(ShortTimeout);
        await using var cached = _cache.OpenCached(daemon.Address, connector);

        // Opens race the batch from both ends; whoever claims a blob first fetches it, the other waits.
        Task<int> batch = ((IBlobPrefetchTarget)cached.Blobs).PrefetchManyAsync(digests, CancellationToken.None);
        var opens = new List<Task>();
        for (int i = contents.Length - 1; i >= 0; i -= 3)
        {
            int index = i;
            opens.Add(Task.Run(async () =>
            {
                using var reader = await cached.Blobs.OpenReadAsync(digests[index]);
                var read = new byte[contents[index].Length];
                Assert.That(await reader!.ReadAtAsync(0, read), Is.EqualTo(read.Length));
                Assert.That(read, Is.EqualTo(contents[index]));
            }));
        }
        Assert.That(await batch, Is.Zero);
        await Task.WhenAll(opens);
        foreach (var digest in digests)
            Assert.That(blobs.Opens[digest], Is.EqualTo(1), "each blob read from the daemon once");
    }
}
