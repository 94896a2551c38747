using System.Collections.Concurrent;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.TestSupport;
using TvixLowFs.Tests.Grpc;
using TvixLowFs.Tests.Mount;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// Issue 15's "done when": each Directory is hashed once per fetch. "Hashed" means BLAKE3 of a
/// Directory's canonical bytes, the one place <see cref="VerifiedDirectory"/> computes it (its
/// <c>Hashed</c> hook; <see cref="DirectoryRules.Digest"/> goes through it too). The fetch path is
/// the production one: a mount over the read-through cache over the gRPC client of the real daemon
/// binary (a separate process, so only the client side is counted) on a unix socket. A cold walk of
/// a tree of N distinct directories hashes each exactly once (in the gRPC client, as received) and
/// a warm walk none. Putting a second verification back anywhere on the way (the cache's fill or
/// its write to disk, the closure prefetch, the lookup) makes a count 2 and fails this test.
/// </summary>
[TestFixture]
[NonParallelizable] // installs the process-wide hashing hook
[Category(MountCategory.Name)]
[CancelAfter(300_000)]
public sealed class HashOncePerFetchTests
{
    private string _root = null!;
    private TvixlowfsProcess _daemon = null!;
    private string _address = null!;

    [SetUp]
    public void StartDaemon()
    {
        _root = Path.Combine(Path.GetTempPath(), "tvixlowfs-hash-once-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(_root);
        string socket = Path.Combine(_root, "daemon.sock");
        _daemon = TvixlowfsProcess.Start(["daemon", "--listen-address", "unix://" + socket,
            "--blob-service-addr", "memory://", "--directory-service-addr", "memory://", "--path-info-service-addr", "memory://", "--log-level", "Information"]);
        Assert.That(_daemon.WaitForErrorLine("serving"), Is.True, string.Join('\n', _daemon.ErrorLines));
        _address = "grpc+unix://" + socket;
    }

    [TearDown]
    public void StopDaemon()
    {
        VerifiedDirectory.Hashed = null;
        _daemon.Dispose();
        System.IO.Directory.Delete(_root, recursive: true);
    }

    [Test]
    public async Task A_cold_walk_hashes_each_directory_once_and_a_warm_walk_none()
    {
        // root → five branches, each with three leaves of its own, and one leaf shared by all five
        // (one digest under five paths): 1 + 5 + 15 + 1 = 22 distinct directories.
        var shared = new DirSpec(("shared-file", FileSpec.Text("shared\n")));
        TreeNode Branch(int b) => new DirSpec(
            [.. Enumerable.Range(0, 3).Select(l => ($"leaf-{l}", (TreeNode)new DirSpec(($"file-{b}-{l}", FileSpec.Text($"{b}.{l}\n"))))),
             ("shared", shared), ($"top-{b}", FileSpec.Text($"{b}\n"))]);
        var tree = new DirSpec([.. Enumerable.Range(0, 5).Select(b => ($"branch-{b}", Branch(b)))]);

        using var connector = new GrpcStoreConnector(new GrpcClientOptions());
        string basename;
        B3Digest[] digests;
        await using (StoreServices daemon = new StoreOpener(connector).Open(StoreAddress.Parse(_address)))
        {
            basename = await new TestTreeWriter(daemon).AddStorePathAsync("hash-once", tree);
            PathInfo pathInfo = (await daemon.PathInfos.GetAsync(TvixLowFs.Store.Model.StorePath.ParseBasename(basename).Hash))!;
            digests = await daemon.Directories.GetRecursiveAsync(B3Digest.FromByteString(pathInfo.Node.Directory.Digest))
                .Select(d => d.Digest).ToArrayAsync();
        }
        Assert.That(digests, Has.Length.EqualTo(22).And.Unique);

        var hashes = new ConcurrentDictionary<B3Digest, int>();
        var watched = digests.ToHashSet();
        VerifiedDirectory.Hashed = digest =>
        {
            if (watched.Contains(digest))
                hashes.AddOrUpdate(digest, 1, (_, n) => n + 1);
        };

        using var cache = new TemporaryCacheDirectory("hash-once-cache");
        await using StoreServices cached = cache.OpenCached(_address, connector);
        using (var mount = new InProcessMount(cached, new StoreFilesystemOptions()))
        {
            string top = mount.PathOf(basename);
            int coldEntries = Walk(top);
            Assert.That(coldEntries, Is.EqualTo(5 + 5 * (3 + 1 + 1) + 5 * 3 + 5), "every entry was listed");
            Assert.That(hashes.Keys, Is.EquivalentTo(digests), "each directory of the tree was fetched");
            Assert.That(hashes.Where(h => h.Value != 1).Select(h => $"{h.Key}: {h.Value}"), Is.Empty, "no directory was hashed twice");
            Assert.That(hashes.Values.Sum(), Is.EqualTo(digests.Length));

            Assert.That(Walk(top), Is.EqualTo(coldEntries));
            Assert.That(hashes.Values.Sum(), Is.EqualTo(digests.Length), "a warm walk hashes nothing");
        }
    }

    /// <summary>Lists every directory under <paramref name="path"/> and stats every entry; returns the entries seen.</summary>
    private static int Walk(string path)
    {
        int entries = 0;
        foreach (string entry in System.IO.Directory.EnumerateFileSystemEntries(path))
        {
            entries++;
            Assert.That(Libc.LStat(entry, out _), Is.Zero, entry);
            if (System.IO.Directory.Exists(entry))
                entries += Walk(entry);
        }
        return entries;
    }
}
