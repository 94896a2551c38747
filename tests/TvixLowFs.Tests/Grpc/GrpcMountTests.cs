using System.Text;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Store;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Real FUSE mounts of a store served by a real daemon over grpc+http and grpc+unix: the
/// behaviour table, the daemon dying under a mount, and the read-through cache.
/// </summary>
[TestFixture(Transport.Tcp)]
[TestFixture(Transport.Unix)]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class GrpcMountTests(Transport transport)
{
    private const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000;
    private static readonly byte[] Hello = Encoding.UTF8.GetBytes("hello world\n");
    private static readonly byte[] Big = Samples.Bytes(2 * 1024 * 1024 + 333, 17);
    private static readonly GrpcClientOptions ShortTimeout = new() { Timeout = TimeSpan.FromSeconds(2) };

    private TestDaemon _daemon = null!;
    private string _cacheDirectory = null!;
    private string _tree = null!, _other = null!, _third = null!, _missingDir = null!;

    [SetUp]
    public async Task StartDaemonWithATree()
    {
        _daemon = await TestDaemon.StartAsync(transport);
        _cacheDirectory = Path.Combine(Path.GetTempPath(), "tvixlowfs-mount-cache-" + Guid.NewGuid().ToString("N"));
        var writer = new TestTreeWriter(_daemon.Store);
        _tree = await writer.AddStorePathAsync("tree", new DirSpec(
            ("a-file", new FileSpec(Hello)),
            ("b-exec", new FileSpec(Encoding.UTF8.GetBytes("#!/bin/sh\n"), Executable: true)),
            ("c-link", new LinkSpec("a-file")),
            ("d-dir", new DirSpec(("x", FileSpec.Text("nested\n")), ("y", new DirSpec(("z", FileSpec.Text("deeper\n")))))),
            ("e-big", new FileSpec(Big)),
            ("f-missing-blob", new FileSpec(Encoding.UTF8.GetBytes("not stored\n"), StoreBlob: false)),
            ("h-later", FileSpec.Text("read only after the outage\n"))), seed: "tree " + transport);
        _other = await writer.AddStorePathAsync("other", FileSpec.Text("another store path\n"), seed: "other " + transport);
        _missingDir = await writer.AddStorePathAsync("missing-dir", new MissingDirSpec(), seed: "missing " + transport);
        _third = await writer.AddStorePathAsync("third", new DirSpec(("f", FileSpec.Text("third\n"))), seed: "third " + transport);
    }

    [TearDown]
    public async Task Stop()
    {
        await _daemon.DisposeAsync();
        if (System.IO.Directory.Exists(_cacheDirectory))
            System.IO.Directory.Delete(_cacheDirectory, recursive: true);
    }

    private StoreServices OpenClient(bool cache)
    {
        using var connector = new GrpcStoreConnector(ShortTimeout);
        var address = StoreAddress.Parse(_daemon.Address);
        var store = new StoreOpener(connector).Open(address);
        return cache ? ReadThroughCache.Wrap(store, _cacheDirectory, address, address) : store;
    }

    private static string Read(string path) => File.ReadAllText(path);

    [TestCase(false)]
    [TestCase(true)]
    public async Task TheBehaviourTableHoldsOverGrpc(bool cache)
    {
        await using var store = OpenClient(cache);
        using var mount = new InProcessMount(store, new StoreFilesystemOptions { ShowXattr = true });
        string P(params string[] parts) => mount.PathOf(parts);

        Assert.That(InProcessMount.MountType(mount.MountPoint), Does.StartWith("fuse.tvixlowfs tvixlowfs"));
        Assert.That(Libc.ListDirectory(mount.MountPoint).Errno, Is.EqualTo(Libc.EPERM));
        Assert.That(Libc.LStat(P("not-a-store-path"), out _), Is.EqualTo(Libc.ENOENT));
        Assert.That(Libc.LStat(P(TestTreeWriter.Basename("tree", seed: "absent")), out _), Is.EqualTo(Libc.ENOENT));

        Stat tree = Libc.LStat(P(_tree));
        Assert.That(tree.Mode, Is.EqualTo(S_IFDIR | 0x16D));
        Assert.That(Libc.ListDirectory(P(_tree)).Names, Is.EqualTo(new[] { ".", "..", "a-file", "b-exec", "c-link", "d-dir", "e-big", "f-missing-blob", "h-later" }));
        Assert.That(Libc.LStat(P(_tree, "a-file")).Mode, Is.EqualTo(S_IFREG | 0x124));
        Assert.That(Libc.LStat(P(_tree, "b-exec")).Mode, Is.EqualTo(S_IFREG | 0x16D));
        Assert.That(Libc.LStat(P(_tree, "c-link")).Mode & S_IFMT, Is.EqualTo(S_IFLNK));
        Assert.That(Encoding.UTF8.GetString(Libc.ReadLink(P(_tree, "c-link")).Target!), Is.EqualTo("a-file"));
        Assert.That(Libc.LStat(P(_tree, "nope"), out _), Is.EqualTo(Libc.ENOENT));
        Assert.That(Libc.LStat(P(_tree, "a-file", "x"), out _), Is.EqualTo(Libc.ENOTDIR));

        Assert.That(File.ReadAllBytes(P(_tree, "a-file")), Is.EqualTo(Hello));
        Assert.That(Read(P(_tree, "d-dir", "y", "z")), Is.EqualTo("deeper\n"));
        Assert.That(Read(P(_other)), Is.EqualTo("another store path\n"));

        (int fd, int errno) = Libc.Open(P(_tree, "e-big"), Libc.O_RDONLY);
        Assert.That(errno, Is.Zero);
        try
        {
            var random = new Random(3);
            var buffer = new byte[200_000];
            // Backward and scattered reads of one open file.
            foreach (long offset in new long[] { Big.Length - 10, 0, 1_000_000, 5, Big.Length + 5 }.Concat(Enumerable.Range(0, 40).Select(_ => random.NextInt64(0, Big.Length))))
            {
                int size = random.Next(1, buffer.Length);
                long read = Libc.PRead(fd, buffer.AsSpan(0, size), offset);
                long expected = Math.Clamp(Big.Length - offset, 0, size);
                Assert.That(read, Is.EqualTo(expected), $"pread {size} at {offset}");
                Assert.That(buffer.AsSpan(0, (int)read).SequenceEqual(Big.AsSpan((int)Math.Min(offset, Big.Length), (int)read)), Is.True);
            }
        }
        finally
        {
            Libc.Close(fd);
        }

        Assert.That(Libc.Open(P(_tree, "f-missing-blob"), Libc.O_RDONLY).Errno, Is.EqualTo(Libc.EIO));
        Assert.That(Libc.ListDirectory(P(_missingDir)).Errno, Is.EqualTo(Libc.EIO));
        Assert.That(Libc.Mkdir(P(_tree, "new")), Is.EqualTo(Libc.EROFS));
        Assert.That(Libc.Open(P(_tree, "a-file"), Libc.O_WRONLY).Errno, Is.EqualTo(Libc.EROFS));
        Assert.That(Libc.GetXattr(P(_tree, "a-file"), "user.tvix.castore.blob.digest", 100).Errno, Is.Zero);
    }

    [Test]
    public async Task TheDaemonDyingUnderAMountGivesEioAndTheMountRecoversAndUnmountsCleanly()
    {
        string mountPoint;
        await using (var store = OpenClient(cache: false))
        {
            // No prefetch, no tree readahead: d-dir and h-later must still be unfetched when the daemon dies.
            using (var mount = new InProcessMount(store, new StoreFilesystemOptions { PrefetchMaxDirectories = 0, ReadaheadConcurrency = 0 }))
            {
                mountPoint = mount.MountPoint;
                string P(params string[] parts) => mount.PathOf(parts);
                Assert.That(Read(P(_tree, "a-file")), Is.EqualTo("hello world\n"));

                await _daemon.StopAsync();
                // Nothing below was asked before: each needs the daemon, and each fails with EIO.
                Assert.That(Libc.LStat(P(_other), out _), Is.EqualTo(Libc.EIO), "root lookup (PathInfo)");
                Assert.That(Libc.Open(P(_tree, "h-later"), Libc.O_RDONLY).Errno, Is.EqualTo(Libc.EIO), "open (blob)");
                Assert.That(Libc.ListDirectory(P(_tree, "d-dir")).Errno, Is.EqualTo(Libc.EIO), "readdir (Directory)");
                // What the mount already holds still answers.
                Assert.That(Libc.LStat(P(_tree, "a-file")).Mode & S_IFMT, Is.EqualTo(S_IFREG));

                await _daemon.RestartAsync();
                Assert.That(Read(P(_other)), Is.EqualTo("another store path\n"));
                Assert.That(Read(P(_tree, "h-later")), Is.EqualTo("read only after the outage\n"));
                Assert.That(Libc.ListDirectory(P(_tree, "d-dir")).Names, Is.EqualTo(new[] { ".", "..", "x", "y" }));
            }
            Assert.That(InProcessMount.IsMountPoint(mountPoint), Is.False, "unmounted cleanly");
        }
    }

    [Test]
    public async Task TheCacheServesFilesAfterTheDaemonIsGoneAndAfterARemount()
    {
        // No tree readahead: h-later must never be fetched.
        await using (var store = OpenClient(cache: true))
        using (var mount = new InProcessMount(store, new StoreFilesystemOptions { ReadaheadConcurrency = 0 }))
        {
            Assert.That(File.ReadAllBytes(mount.PathOf(_tree, "e-big")).AsSpan().SequenceEqual(Big), Is.True);
            Assert.That(Read(mount.PathOf(_third, "f")), Is.EqualTo("third\n"));
            await _daemon.StopAsync();
            // A new open of a file read before: the blob comes from the local cache, not the daemon.
            (int fd, int errno) = Libc.Open(mount.PathOf(_tree, "e-big"), Libc.O_RDONLY);
            Assert.That(errno, Is.Zero);
            var buffer = new byte[4096];
            Assert.That(Libc.PRead(fd, buffer, 1_000_000), Is.EqualTo(4096));
            Assert.That(buffer.AsSpan().SequenceEqual(Big.AsSpan(1_000_000, 4096)), Is.True);
            Libc.Close(fd);
            await _daemon.RestartAsync();
        }

        // A remount: nothing in the kernel or the filesystem, only the cache directory remains.
        await using (var store = OpenClient(cache: true))
        using (var mount = new InProcessMount(store, new StoreFilesystemOptions { ReadaheadConcurrency = 0 }))
        {
            // PathInfos are not cached: look the store paths up while the daemon is there.
            Assert.That(Libc.LStat(mount.PathOf(_tree), out _), Is.Zero);
            Assert.That(Libc.LStat(mount.PathOf(_third), out _), Is.Zero);
            await _daemon.StopAsync();
            Assert.That(File.ReadAllBytes(mount.PathOf(_tree, "e-big")).AsSpan().SequenceEqual(Big), Is.True, "blob and directory from the cache");
            Assert.That(Read(mount.PathOf(_third, "f")), Is.EqualTo("third\n"));
            Assert.That(Libc.Open(mount.PathOf(_tree, "h-later"), Libc.O_RDONLY).Errno, Is.EqualTo(Libc.EIO), "never fetched, daemon gone");
            await _daemon.RestartAsync();
        }
    }
}
