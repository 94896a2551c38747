using System.Diagnostics;
using NUnit.Framework;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.ObjectStore;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;
using TvixLowFs.Tests.Store;
using TvixLowFs.TestSupport;
using static TvixLowFs.Tests.Store.TestTrees;

namespace TvixLowFs.Tests.ObjectStore;

/// <summary>
/// Issue 17's fleet under faults: the S3 server gone in the middle of a session (EIO within the
/// deadline, then reads recover by themselves), and a daemon killed in the middle of an import and
/// started again (nothing that was stored is lost, nothing half-written is named).
/// </summary>
[CancelAfter(600_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class ObjectStoreFleetTests
{
    private const int EIO = 5, SIGKILL = 9;

    /// <summary>The mount's --grpc-timeout in the daemon case.</summary>
    private const int GrpcTimeoutSeconds = 3;

    /// <summary>
    /// A read against a daemon whose bucket is gone makes at most two calls (the blob's stat, then
    /// its read), each bounded by the deadline; slack for a busy 2-core machine on top.
    /// </summary>
    private static readonly TimeSpan WithinTheDeadline = TimeSpan.FromSeconds(2 * GrpcTimeoutSeconds + 8);

    /// <summary>
    /// A mount on the bucket itself has no gRPC deadline: the S3 client's own bound applies (a
    /// refused connection fails at once, retried three times with back-off).
    /// </summary>
    private static readonly TimeSpan WithinTheS3Retries = TimeSpan.FromSeconds(20);

    private ObjectStoreProcesses _run = null!;

    [SetUp]
    public void SetUp()
    {
        if (!File.Exists("/dev/fuse"))
            Assert.Fail("/dev/fuse is missing: the mount tests need FUSE");
        _run = new ObjectStoreProcesses(Path.Combine(Path.GetTempPath(), "tvixlowfs-objectstore-fleet-" + Guid.NewGuid().ToString("N")));
    }

    [TearDown]
    public void TearDown() => _run.Dispose();

    [Test]
    public void Rgw_stopped_mid_session_gives_EIO_within_the_deadline_and_reads_recover_when_it_is_back()
    {
        ObjectStoreBuckets bucket = ObjectStoreBuckets.Create();
        string address = bucket.Address();
        string tree = Path.Combine(_run.Root, "tree");
        Materialize(TreeDirectory.Of(
            ("first", new TreeFile(Pattern(1024 * 1024 + 1, seed: 71))),
            ("second", new TreeFile(Pattern(3 * 1024 * 1024 + 5, seed: 72))),
            ("dir", TreeDirectory.Of(("third", TreeFile.Text("third\n"))))), tree);
        string storePath = ObjectStoreProcesses.Import(address, tree);

        string daemon = _run.StartDaemon(address).Address;
        // No tree readahead: "second" must still be unfetched when the bucket goes away.
        string viaDaemon = _run.Mount(daemon, "--cache-dir", Path.Combine(_run.Root, "cache"), "--tree-readahead", "0",
            "--grpc-timeout", GrpcTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        string direct = _run.Mount(address, "--no-cache", "--tree-readahead", "0");
        (string Name, string MountPoint, TimeSpan Bound)[] mounts = [("through a daemon", viaDaemon, WithinTheDeadline), ("on the bucket", direct, WithinTheS3Retries)];
        foreach ((string name, string mountPoint, _) in mounts)
            Assert.That(File.ReadAllBytes(Path.Combine(mountPoint, storePath, "first")), Is.EqualTo(File.ReadAllBytes(Path.Combine(tree, "first"))), name);

        bucket.Rgw.StopRadosgw();
        try
        {
            foreach ((string name, string mountPoint, TimeSpan bound) in mounts)
            {
                var elapsed = Stopwatch.StartNew();
                int errno = ReadToEnd(Path.Combine(mountPoint, storePath, "second"));
                elapsed.Stop();
                Assert.That(errno, Is.EqualTo(EIO), $"{name}: a read the bucket cannot serve");
                Assert.That(elapsed.Elapsed, Is.LessThan(bound), $"{name}: answered within the deadline");
                // What was read before the bucket went is still served.
                Assert.That(File.ReadAllBytes(Path.Combine(mountPoint, storePath, "first")), Is.EqualTo(File.ReadAllBytes(Path.Combine(tree, "first"))), name);
            }
        }
        finally
        {
            bucket.Rgw.StartRadosgw();
        }

        // Back: the failed read is not remembered, everything reads in full.
        foreach ((string name, string mountPoint, _) in mounts)
        {
            Assert.That(ReadToEnd(Path.Combine(mountPoint, storePath, "second")), Is.Zero, name);
            ObjectStoreProcesses.AssertSameTree(tree, Path.Combine(mountPoint, storePath));
        }
    }

    [Test]
    public void A_daemon_killed_in_the_middle_of_an_import_and_restarted_loses_nothing()
    {
        ObjectStoreBuckets bucket = ObjectStoreBuckets.Create();
        string address = bucket.Address();
        int port = ObjectStoreProcesses.FreePort();
        (TvixlowfsProcess daemon, string grpc) = _run.StartDaemon(address, port);

        string small = Path.Combine(_run.Root, "small");
        Materialize(TreeDirectory.Of(("hello", TreeFile.Text("hello\n")), ("data", new TreeFile(Pattern(300_000, seed: 81)))), small);
        string kept = ObjectStoreProcesses.Import(grpc, small);

        // Large enough that its upload through RGW takes seconds (48 MiB in 24 files plus small ones).
        string large = Path.Combine(_run.Root, "large");
        Materialize(TreeDirectory.Of([
            .. Enumerable.Range(0, 24).Select(i => ($"blob-{i:D2}", (Store.TreeNode)new TreeFile(Pattern(2 * 1024 * 1024, seed: 100 + i)))),
            .. Enumerable.Range(0, 200).Select(i => ($"small-{i:D3}", (Store.TreeNode)TreeFile.Text($"small {i}\n"))),
        ]), large);
        TvixlowfsProcess import = _run.Start(["import", large, .. ObjectStoreProcesses.StoreFlags(grpc)]);
        Thread.Sleep(1500);
        daemon.Signal(SIGKILL);
        Assert.That(daemon.WaitForExit(30), Is.True, "the daemon is gone");
        Assert.That(import.WaitForExit(120), Is.True, "the import ends once its daemon is gone");
        Assert.That(import.ExitCode, Is.Not.Zero, "the import was cut off (it must still be running at the kill for this test to mean anything)");
        // Only the finished import is named: nothing points at what the killed one left half-done.
        Assert.That(S3Check.Keys(bucket.Rgw, bucket.Bucket, "pathinfos/").Keys, Is.EqualTo(new[] { "pathinfos/" + kept[..32] }));

        string again = _run.StartDaemon(address, port).Address;
        Assert.That(again, Is.EqualTo(grpc));
        // The same import again over what the killed one left: harmless, and complete this time.
        string finished = ObjectStoreProcesses.Import(grpc, large);
        string mountPoint = _run.Mount(grpc, "--cache-dir", Path.Combine(_run.Root, "cache"));
        ObjectStoreProcesses.AssertSameTree(small, Path.Combine(mountPoint, kept));
        ObjectStoreProcesses.AssertSameTree(large, Path.Combine(mountPoint, finished));
    }

    [Test]
    public async Task A_large_file_through_a_daemon_on_the_bucket_is_read_by_ranges_each_chunk_verified_and_kept()
    {
        ObjectStoreBuckets bucket = ObjectStoreBuckets.Create();
        string address = bucket.Address();
        string tree = Path.Combine(_run.Root, "tree");
        byte[] large = Pattern(24 * 1024 * 1024 + 7, seed: 91);
        Materialize(TreeDirectory.Of(("large", new TreeFile(large)), ("small", TreeFile.Text("small\n"))), tree);
        string storePath = ObjectStoreProcesses.Import(address, tree);
        B3Digest blob = B3Digest.Compute(large);
        List<ChunkMeta> stored = ChunkList.Decode(S3Check.Get(bucket.Rgw, bucket.Bucket, ObjectKeys.Blob("", blob)));
        Assert.That(stored, Has.Count.GreaterThan(40), "FastCDC cut the file into chunks");

        string daemon = _run.StartDaemon(address).Address;
        // Over gRPC: Stat with send_chunks answers the bucket's chunk list, Read of a chunk's digest its bytes.
        using (var connector = new GrpcStoreConnector(new GrpcClientOptions()))
        await using (IBlobService remote = await connector.OpenBlobServiceAsync(StoreAddress.Parse(daemon)))
        {
            IReadOnlyList<BlobChunkInfo>? listed = await ((IBlobChunkSource)remote).StatChunksAsync(blob);
            Assert.That(listed, Is.EqualTo(stored.Select(chunk => new BlobChunkInfo(chunk.Digest, chunk.Size))));
            using BlobReader chunk = (await remote.OpenReadAsync(stored[7].Digest))!;
            var bytes = new byte[chunk.Length];
            Assert.That(await chunk.ReadAtAsync(0, bytes), Is.EqualTo(stored[7].Size));
            Assert.That(B3Digest.Compute(bytes), Is.EqualTo(stored[7].Digest));
        }

        string cache = Path.Combine(_run.Root, "cache");
        string viaDaemon = _run.Mount(daemon, "--cache-dir", cache, "--tree-readahead", "0");
        string direct = _run.Mount(address, "--no-cache", "--tree-readahead", "0");
        const long Offset = 13L * 1024 * 1024 + 5;
        foreach (string mountPoint in new[] { viaDaemon, direct })
        {
            var buffer = new byte[4096];
            using (var file = File.OpenHandle(Path.Combine(mountPoint, storePath, "large")))
                Assert.That(RandomAccess.Read(file, buffer, Offset), Is.EqualTo(buffer.Length));
            Assert.That(buffer, Is.EqualTo(large[(int)Offset..((int)Offset + buffer.Length)]), mountPoint);
        }

        // The daemon mount's cache holds the chunks that read touched (the kernel reads ahead a little,
        // and so does a reader in order), never the whole blob: the rest was not fetched.
        LocalStore cached = LocalStore.Open(cache);
        int Held() => stored.Count(chunk => File.Exists(cached.BlobPath(chunk.Digest)));
        for (int i = 0; i < 200 && Held() == 0; i++)
            Thread.Sleep(20);
        Assert.That(Held(), Is.InRange(1, 12), $"chunks fetched for one 4 KiB read, of {stored.Count}");
        Assert.That(File.Exists(cached.BlobPath(blob)), Is.False, "the blob is not fetched whole");

        foreach (string mountPoint in new[] { viaDaemon, direct })
            Assert.That(File.ReadAllBytes(Path.Combine(mountPoint, storePath, "large")), Is.EqualTo(large), mountPoint);
        for (int i = 0; i < 200 && Held() < stored.Count; i++)
            Thread.Sleep(20);
        Assert.That(Held(), Is.EqualTo(stored.Count), "a whole read keeps every chunk");
    }

    [Test]
    public async Task A_daemon_on_the_bucket_with_a_cache_dir_serves_what_it_has_read_from_its_own_cache()
    {
        ObjectStoreBuckets bucket = ObjectStoreBuckets.Create();
        string address = bucket.Address();
        byte[] large = Pattern(9 * 1024 * 1024 + 11, seed: 97), small = Pattern(70_000, seed: 98);
        string tree = Path.Combine(_run.Root, "tree");
        Materialize(TreeDirectory.Of(("large", new TreeFile(large)), ("small", new TreeFile(small))), tree);
        ObjectStoreProcesses.Import(address, tree);
        B3Digest largeDigest = B3Digest.Compute(large), smallDigest = B3Digest.Compute(small);

        string cache = Path.Combine(_run.Root, "daemon-cache");
        string daemon = _run.StartDaemon(address, 0, "--cache-dir", cache).Address;
        string plain = _run.StartDaemon(address).Address;
        using var connector = new GrpcStoreConnector(new GrpcClientOptions { Timeout = TimeSpan.FromSeconds(5) });
        await using IBlobService cached = await connector.OpenBlobServiceAsync(StoreAddress.Parse(daemon));
        await using IBlobService uncached = await connector.OpenBlobServiceAsync(StoreAddress.Parse(plain));

        // The cache keeps the bucket's chunk list visible: a mount behind it still reads by ranges.
        IReadOnlyList<BlobChunkInfo>? chunks = await ((IBlobChunkSource)cached).StatChunksAsync(largeDigest);
        Assert.That(chunks, Has.Count.GreaterThan(4));
        Assert.That(chunks, Is.EqualTo(await ((IBlobChunkSource)uncached).StatChunksAsync(largeDigest)));
        Assert.That(await ReadAllAsync(cached, smallDigest), Is.EqualTo(small));
        Assert.That(await ReadAllAsync(cached, chunks![2].Digest), Is.EqualTo(large[(int)chunks.Take(2).Sum(c => c.Size)..][..(int)chunks[2].Size]));
        LocalStore kept = LocalStore.Open(cache);
        Assert.That(File.Exists(kept.BlobPath(smallDigest)) && File.Exists(kept.BlobPath(chunks[2].Digest)), Is.True, "what the daemon served is in its cache");

        bucket.Rgw.StopRadosgw();
        try
        {
            // The bucket gone: what the daemon keeps is still served, the rest is not.
            Assert.That(await ReadAllAsync(cached, smallDigest), Is.EqualTo(small));
            await Assert.ThrowsAsync<StoreUnavailableException>(async () => await ReadAllAsync(uncached, smallDigest));
        }
        finally
        {
            bucket.Rgw.StartRadosgw();
        }
    }

    private static async Task<byte[]> ReadAllAsync(IBlobService blobs, B3Digest digest)
    {
        using BlobReader reader = (await blobs.OpenReadAsync(digest))!;
        var bytes = new byte[reader.Length];
        long done = 0;
        while (done < bytes.Length)
        {
            int n = await reader.ReadAtAsync(done, bytes.AsMemory((int)done));
            Assert.That(n, Is.GreaterThan(0));
            done += n;
        }
        return bytes;
    }

    [Test]
    public void A_mount_on_the_bucket_itself_keeps_what_it_reads_in_its_own_read_through_cache()
    {
        ObjectStoreBuckets bucket = ObjectStoreBuckets.Create();
        string address = bucket.Address();
        string tree = Path.Combine(_run.Root, "tree");
        byte[] read = Pattern(2 * 1024 * 1024 + 3, seed: 95), unread = Pattern(1024 * 1024 + 9, seed: 96);
        Materialize(TreeDirectory.Of(("read", new TreeFile(read)), ("unread", new TreeFile(unread))), tree);
        string storePath = ObjectStoreProcesses.Import(address, tree);

        // Each runner's mount has its own cache, whether it reaches the bucket through a daemon or not.
        string cache = Path.Combine(_run.Root, "cache");
        string direct = _run.Mount(address, "--cache-dir", cache, "--tree-readahead", "0");
        Assert.That(File.ReadAllBytes(Path.Combine(direct, storePath, "read")), Is.EqualTo(read));

        LocalStore cached = LocalStore.Open(cache);
        bool Held(byte[] content) => File.Exists(cached.BlobPath(B3Digest.Compute(content)));
        for (int i = 0; i < 250 && !Held(read); i++)
            Thread.Sleep(20);
        Assert.That(Held(read), Is.True, "the blob read is kept in the mount's cache");
        Assert.That(Held(unread), Is.False, "a blob not read is not fetched");
        Assert.That(Directory.EnumerateFiles(cached.DirectoriesDirectory, "*", SearchOption.AllDirectories), Is.Not.Empty,
            "the directories walked are kept too");
    }

    /// <summary>Opens and reads the whole file; 0, or the errno of the open or the first failed read.</summary>
    private static int ReadToEnd(string path)
    {
        (int fd, int errno) = Libc.Open(path, 0);
        if (fd < 0)
            return errno;
        try
        {
            var buffer = new byte[1 << 20];
            for (long offset = 0; ;)
            {
                long n = Libc.PRead(fd, buffer, offset);
                if (n < 0)
                    return (int)-n;
                if (n == 0)
                    return 0;
                offset += n;
            }
        }
        finally
        {
            Libc.Close(fd);
        }
    }
}
