using Microsoft.Extensions.Logging;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Store;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// The read-through cache fetching ahead: blobs prefetched into it, nothing fetched by a walk that
/// only lists and stats, and readahead that fails without harming the mount.
/// </summary>
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class CachePrefetchTests
{
    private static readonly GrpcClientOptions ShortTimeout = new() { Timeout = TimeSpan.FromSeconds(2) };
    private const int SmallFiles = 24;
    private TemporaryCacheDirectory _cache = null!;

    [SetUp]
    public void CreateCacheDirectory() => _cache = new TemporaryCacheDirectory("prefetch");

    [TearDown]
    public void RemoveCacheDirectory() => _cache.Dispose();


    private static byte[] Small(int i) => Samples.Bytes(500 + i * 1000, 100 + i);

    private static readonly byte[] Big = Samples.Bytes(300_000, 7);

    /// <summary>A directory of small files, one larger than the prefetch limit, one whose blob the daemon lacks, and a subdirectory.</summary>
    private static async Task<string> AddTreeAsync(TestDaemon daemon)
    {
        var children = new List<(string, TreeNode)>();
        for (int i = 0; i < SmallFiles; i++)
            children.Add(($"small-{i:D2}", new FileSpec(Small(i))));
        children.Add(("big", new FileSpec(Big)));
        children.Add(("missing", new FileSpec(Samples.Bytes(100, 3), StoreBlob: false)));
        children.Add(("sub", new DirSpec(("inner", FileSpec.Text("not listed, not prefetched\n")))));
        return await new TestTreeWriter(daemon.Store).AddStorePathAsync("tree", new DirSpec([.. children]), seed: "prefetch");
    }

    /// <summary>Waits for background work the test has no event for (bounded, so a hang fails rather than blocks).</summary>
    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        for (int i = 0; i < 3000 && !condition(); i++)
            await Task.Delay(10);
        Assert.That(condition(), Is.True, what);
    }

    [Test]
    public async Task ABlobTheCacheRemembersButLostIsFetchedAgain()
    {
        await using var daemon = await TestDaemon.StartAsync(Transport.Unix);
        byte[] bytes = Small(5);
        B3Digest digest;
        await using (var writer = daemon.Store.Blobs.OpenWrite())
        {
            await writer.WriteAsync(bytes);
            digest = await writer.CloseAsync();
        }
        using var connector = new GrpcStoreConnector(ShortTimeout);
        await using var cached = _cache.OpenCached(daemon.Address, connector);
        var caching = (CachingBlobService)cached.Blobs;
        Assert.That(caching.IsHeld(digest), Is.False);
        using (var first = await caching.OpenReadAsync(digest))
            Assert.That(first!.Length, Is.EqualTo(bytes.Length));
        await WaitUntil(() => caching.PendingPublications == 0, "named in the cache");
        string file = LocalStore.Open(_cache.Path).BlobPath(digest);
        Assert.That(File.Exists(file), Is.True);

        // Emptied from outside while mounted: still remembered as held (no stat per question)...
        File.Delete(file);
        Assert.That(caching.IsHeld(digest), Is.True);
        // ...but an open finds no file and fetches it again instead of failing.
        using var again = await caching.OpenReadAsync(digest);
        var read = new byte[bytes.Length];
        Assert.That(await again!.ReadAtAsync(0, read), Is.EqualTo(bytes.Length));
        Assert.That(read, Is.EqualTo(bytes));
    }

    [Test]
    public async Task APrefetchedBlobIsKeptAndServedWithoutTheDaemon()
    {
        await using var daemon = await TestDaemon.StartAsync(Transport.Unix);
        var blobs = new List<(B3Digest Digest, byte[] Bytes)>();
        for (int i = 0; i < 3; i++)
        {
            await using var writer = daemon.Store.Blobs.OpenWrite();
            await writer.WriteAsync(Small(i));
            blobs.Add((await writer.CloseAsync(), Small(i)));
        }
        using var connector = new GrpcStoreConnector(ShortTimeout);
        var cached = _cache.OpenCached(daemon.Address, connector);
        try
        {
            var prefetch = (IBlobPrefetchTarget)cached.Blobs;
            foreach (var (digest, _) in blobs)
                await prefetch.PrefetchAsync(digest, CancellationToken.None);
            // Absent remotely: nothing to keep, and no error (an open would answer "not found").
            await prefetch.PrefetchAsync(B3Digest.Compute("never stored"u8), CancellationToken.None);

            await daemon.StopAsync();
            foreach (var (digest, bytes) in blobs)
            {
                using var reader = await cached.Blobs.OpenReadAsync(digest);
                Assert.That(reader!.LocalFile, Is.Not.Null, "served from the cache's file");
                var read = new byte[bytes.Length];
                Assert.That(await reader.ReadAtAsync(0, read), Is.EqualTo(bytes.Length));
                Assert.That(read, Is.EqualTo(bytes));
            }
            // The daemon gone, a prefetch of something not cached fails like an open would.
            Exception? failure = null;
            try
            {
                await prefetch.PrefetchAsync(B3Digest.Compute("not cached"u8), CancellationToken.None);
            }
            catch (Exception e)
            {
                failure = e;
            }
            Assert.That(failure, Is.InstanceOf<StoreUnavailableException>());
        }
        finally
        {
            await cached.DisposeAsync();
        }
        var local = new LocalBlobService(LocalStore.Open(_cache.Path));
        foreach (var (digest, bytes) in blobs)
            Assert.That(await local.StatAsync(digest), Is.EqualTo(bytes.Length), "named in the cache once the services are closed");
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Combine(_cache.Path, "tmp")), Is.Empty, "no leftover temp file");
        await daemon.RestartAsync();
    }

    [Test]
    public async Task ListingAndStattingATreeFetchesNoBlob()
    {
        await using var daemon = await TestDaemon.StartAsync(Transport.Unix);
        string tree = await AddTreeAsync(daemon);
        using var connector = new GrpcStoreConnector(ShortTimeout);
        await using (var store = _cache.OpenCached(daemon.Address, connector))
        using (var mount = new InProcessMount(store, new StoreFilesystemOptions()))
        {
            // What find and ls -l do: list and stat everything, open nothing.
            foreach (string name in Libc.ListDirectory(mount.PathOf(tree)).Names)
                Assert.That(Libc.LStat(mount.PathOf(tree, name), out _), Is.Zero, name);
            Assert.That(Libc.ListDirectory(mount.PathOf(tree, "sub")).Names, Has.Count.EqualTo(3));
            await WaitUntil(() => mount.Filesystem.PendingReadaheads == 0 && mount.Filesystem.PendingPrefetches == 0, "background work finished");
            Assert.That(mount.Filesystem.FilesReadAhead, Is.Zero);
        }
        Assert.That(System.IO.Directory.Exists(Path.Combine(_cache.Path, "blobs"))
            ? System.IO.Directory.EnumerateFiles(Path.Combine(_cache.Path, "blobs"), "*", SearchOption.AllDirectories) : [], Is.Empty,
            "a metadata walk downloads no file contents");
    }

    [Test]
    public async Task ReadaheadThatFailsLeavesTheMountWorking()
    {
        await using var daemon = await TestDaemon.StartAsync(Transport.Unix);
        string tree = await AddTreeAsync(daemon);
        using var connector = new GrpcStoreConnector(ShortTimeout);
        await using var store = _cache.OpenCached(daemon.Address, connector);
        using var mount = new InProcessMount(store, new StoreFilesystemOptions());

        // The tree's Directories arrive (closure prefetch at the root's lookup); then the daemon goes.
        Assert.That(Libc.LStat(mount.PathOf(tree, "small-00"), out _), Is.Zero);
        await WaitUntil(() => mount.Filesystem.PendingPrefetches == 0, "the directory prefetch finished");
        await daemon.StopAsync();

        // The open fails, and the readahead it starts for the files after it fails as a whole.
        Assert.That(Libc.Open(mount.PathOf(tree, "small-00"), Libc.O_RDONLY).Errno, Is.EqualTo(Libc.EIO));
        await WaitUntil(() => mount.Filesystem.PendingReadaheads == 0, "the failing readahead finished");
        Assert.That(mount.Log.Lines.Count(l => l.Level == LogLevel.Debug && l.Message.StartsWith("readahead of ", StringComparison.Ordinal)
            && l.Message.Contains("blobs failed")), Is.GreaterThanOrEqualTo(1));
        Assert.That(mount.Filesystem.FilesReadAhead, Is.Zero);

        await daemon.RestartAsync();
        for (int i = 0; i < SmallFiles; i++)
            Assert.That(File.ReadAllBytes(mount.PathOf(tree, $"small-{i:D2}")), Is.EqualTo(Small(i)), "fetched at open instead");
        Assert.That(File.ReadAllBytes(mount.PathOf(tree, "big")), Is.EqualTo(Big));
        Assert.That(Libc.Open(mount.PathOf(tree, "missing"), Libc.O_RDONLY).Errno, Is.EqualTo(Libc.EIO));
    }
}
