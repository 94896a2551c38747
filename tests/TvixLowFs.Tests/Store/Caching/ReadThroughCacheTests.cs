using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Memory;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Grpc;

/// <summary>The mount's read-through cache in front of a real daemon.</summary>
public sealed class ReadThroughCacheTests
{
    private static readonly GrpcClientOptions ShortTimeout = new() { Timeout = TimeSpan.FromSeconds(2) };
    private TemporaryCacheDirectory _cache = null!;

    [SetUp]
    public void CreateCacheDirectory() => _cache = new TemporaryCacheDirectory("cache");

    [TearDown]
    public void RemoveCacheDirectory() => _cache.Dispose();


    private static async Task<byte[]> ReadAll(BlobReader reader)
    {
        var bytes = new byte[reader.Length];
        int done = 0;
        while (done < bytes.Length)
            done += await reader.ReadAtAsync(done, bytes.AsMemory(done));
        return bytes;
    }

    private static async Task<List<Directory>> Recursive(IDirectoryService directories, B3Digest root)
    {
        var list = new List<Directory>();
        await foreach (var d in directories.GetRecursiveAsync(root))
            list.Add(d.Message);
        return list;
    }

    [TestCase(Transport.Tcp)]
    [TestCase(Transport.Unix)]
    public async Task FetchedBlobsAndDirectoriesAreServedLocallyAfterTheDaemonIsGoneAndAfterARemount(Transport transport)
    {
        await using var daemon = await TestDaemon.StartAsync(transport);
        byte[] bytes = Samples.Bytes(2_000_000, 9);
        var (root, leavesFirst) = Samples.Graph();
        B3Digest blob;
        await using (var writer = daemon.Store.Blobs.OpenWrite())
        {
            await writer.WriteAsync(bytes);
            blob = await writer.CloseAsync();
        }
        await using (var putter = daemon.Store.Directories.BeginPut())
        {
            foreach (var d in leavesFirst)
                await putter.PutAsync(d);
            await putter.CloseAsync();
        }
        var rootDigest = DirectoryRules.Digest(root);
        var childDigest = DirectoryRules.Digest(leavesFirst[3]);

        using var connector = new GrpcStoreConnector(ShortTimeout);
        await using (var first = _cache.OpenCached(daemon.Address, connector))
        {
            using var reader = await first.Blobs.OpenReadAsync(blob);
            Assert.That(await ReadAll(reader!), Is.EqualTo(bytes));
            Assert.That(reader!.LocalFile, Is.Not.Null);
            Assert.That((await first.Directories.GetAsync(rootDigest))?.Message, Is.EqualTo(root));

            // The daemon goes away: what was fetched is still there, from the local store.
            await daemon.StopAsync();
            using var again = await first.Blobs.OpenReadAsync(blob);
            Assert.That(await ReadAll(again!), Is.EqualTo(bytes));
            Assert.That(again!.LocalFile, Is.Not.Null, "served locally, so it can be spliced");
            Assert.That((await first.Directories.GetAsync(childDigest))?.Message, Is.EqualTo(leavesFirst[3]), "the whole subtree was kept");
            Assert.That((await Recursive(first.Directories, rootDigest)).Select(DirectoryRules.Digest),
                Is.EquivalentTo(leavesFirst.Select(DirectoryRules.Digest)));
            // Something never fetched is not there.
            await Assert.ThrowsAsync<StoreUnavailableException>(async () => await first.Blobs.OpenReadAsync(B3Digest.Compute("other"u8)));
        }

        // A remount: a new process's services over the same cache directory.
        await daemon.RestartAsync();
        await using var second = _cache.OpenCached(daemon.Address, connector);
        await daemon.StopAsync();
        using var remounted = await second.Blobs.OpenReadAsync(blob);
        Assert.That(await ReadAll(remounted!), Is.EqualTo(bytes));
        Assert.That((await second.Directories.GetAsync(rootDigest))?.Message, Is.EqualTo(root));
        await daemon.RestartAsync();
    }

    [Test]
    public async Task ACorruptBlobIsNotKept()
    {
        byte[] real = Samples.Bytes(10_000, 1);
        var asked = B3Digest.Compute(real);
        var blobs = new CorruptingBlobService(asked, Samples.Bytes(10_000, 2));
        var directories = new MemoryDirectoryService();
        var store = new StoreServices(blobs, directories, new MemoryPathInfoService(new NarCalculator(blobs, directories)));
        await using var daemon = await TestDaemon.StartAsync(Transport.Tcp, store);
        using var connector = new GrpcStoreConnector(ShortTimeout);
        await using var cached = _cache.OpenCached(daemon.Address, connector);

        await Assert.ThrowsAsync<StoreValidationException>(async () => await cached.Blobs.OpenReadAsync(asked));
        var local = new LocalBlobService(LocalStore.Open(_cache.Path));
        Assert.That(await local.StatAsync(asked), Is.Null);
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Combine(_cache.Path, "tmp")), Is.Empty, "no leftover temp file");
    }

    [Test]
    public async Task ConcurrentReadersAndTwoMountsShareTheCache()
    {
        await using var daemon = await TestDaemon.StartAsync(Transport.Tcp);
        var blobs = new List<(B3Digest Digest, byte[] Bytes)>();
        for (int i = 0; i < 4; i++)
        {
            byte[] bytes = Samples.Bytes(300_000 + i, 20 + i);
            await using var writer = daemon.Store.Blobs.OpenWrite();
            await writer.WriteAsync(bytes);
            blobs.Add((await writer.CloseAsync(), bytes));
        }
        using var connector = new GrpcStoreConnector(ShortTimeout);
        var mountA = _cache.OpenCached(daemon.Address, connector);
        var mountB = _cache.OpenCached(daemon.Address, connector);
        try
        {
            var reads = Enumerable.Range(0, 16).Select(async i =>
            {
                var (digest, bytes) = blobs[i % blobs.Count];
                var mount = i % 2 == 0 ? mountA : mountB;
                using var reader = await mount.Blobs.OpenReadAsync(digest);
                return (await ReadAll(reader!)).AsSpan().SequenceEqual(bytes);
            });
            Assert.That(await Task.WhenAll(reads), Is.All.True);
        }
        finally
        {
            // Closing a mount's services names every blob it verified (names are given in the background).
            await mountA.DisposeAsync();
            await mountB.DisposeAsync();
        }
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Combine(_cache.Path, "tmp")), Is.Empty, "no leftover temp file");
        var local = new LocalBlobService(LocalStore.Open(_cache.Path));
        foreach (var (digest, bytes) in blobs)
            Assert.That(await local.StatAsync(digest), Is.EqualTo(bytes.Length));
    }

    [Test]
    public void LocalAddressesAreNotWrappedAndTheDefaultDirectoryFollowsXdg()
    {
        var memory = new StoreOpener().Open(StoreAddress.Memory);
        Assert.That(ReadThroughCache.Wrap(memory, _cache.Path, StoreAddress.Memory, StoreAddress.Memory), Is.SameAs(memory));
        Assert.That(System.IO.Directory.Exists(_cache.Path), Is.False);
        string? saved = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        try
        {
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", "/somewhere/cache");
            Assert.That(ReadThroughCache.DefaultDirectory(), Is.EqualTo("/somewhere/cache/tvixlowfs"));
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", null);
            Assert.That(ReadThroughCache.DefaultDirectory(), Does.EndWith("/.cache/tvixlowfs"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", saved);
        }
    }
}
