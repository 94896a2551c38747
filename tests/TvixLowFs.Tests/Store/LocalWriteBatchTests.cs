using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;
using static TvixLowFs.Tests.Store.TestTrees;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Store;

/// <summary>Batched durability of the local store: nothing named before its commit, nothing left behind without one, order kept.</summary>
[CancelAfter(60_000)]
public sealed class LocalWriteBatchTests
{
    private TestStore _store = null!;
    private string Root => _store.Directory!;
    private StoreServices Store => _store.Services;

    [SetUp]
    public void SetUp() => _store = TestStore.Create(StoreKind.Local);

    [TearDown]
    public async Task TearDown() => await _store.DisposeAsync();

    private IEnumerable<string> TempFiles => System.IO.Directory.EnumerateFileSystemEntries(Path.Join(Root, "tmp"));

    private IEnumerable<string> BlobFiles => System.IO.Directory.EnumerateFiles(Path.Join(Root, "blobs"), "*", SearchOption.AllDirectories);

    private static async Task<B3Digest> WriteAsync(IBlobWriteBatch batch, byte[] data)
    {
        await using BlobWriter writer = batch.OpenWrite();
        await writer.WriteAsync(data);
        return await writer.CloseAsync();
    }

    [Test]
    public async Task A_blob_of_a_batch_is_named_only_by_the_commit()
    {
        byte[] data = Pattern(5000, seed: 3);
        await using IBlobWriteBatch batch = BlobWriteBatch.Begin(Store.Blobs);
        B3Digest digest = await WriteAsync(batch, data);

        Assert.That(digest, Is.EqualTo(B3Digest.Compute(data)), "the close returns the digest of the bytes");
        Assert.That(await Store.Blobs.StatAsync(digest), Is.Null, "not visible before the commit");
        Assert.That(BlobFiles, Is.Empty);

        await batch.CommitAsync();
        Assert.That(await Store.Blobs.StatAsync(digest), Is.EqualTo(data.Length));
        Assert.That(File.ReadAllBytes(Path.Join(Root, "blobs", digest.ToHex()[..2], digest.ToHex())), Is.EqualTo(data));
        Assert.That(TempFiles, Is.Empty);
    }

    [Test]
    public async Task Disposing_an_uncommitted_batch_leaves_no_blob_and_no_temp_file()
    {
        await using (IBlobWriteBatch batch = BlobWriteBatch.Begin(Store.Blobs))
        {
            for (int i = 0; i < 10; i++)
                await WriteAsync(batch, Pattern(100 + i, seed: i));
            await using BlobWriter unclosed = batch.OpenWrite();
            await unclosed.WriteAsync(Pattern(10));
            Assert.That(TempFiles.Count(), Is.EqualTo(11), "the closed blobs wait as temp files");
        }
        Assert.That(BlobFiles, Is.Empty);
        Assert.That(TempFiles, Is.Empty);
    }

    [Test]
    public async Task Writers_on_several_threads_commit_each_blob_once_stored_and_repeated_ones_included()
    {
        B3Digest stored = await PutBlobAsync(Store.Blobs, Pattern(300, seed: 99));
        byte[][] contents = Enumerable.Range(0, 200).Select(i => Pattern(50 + i % 40, seed: i % 40)).Append(Pattern(300, seed: 99)).ToArray();
        await using IBlobWriteBatch batch = BlobWriteBatch.Begin(Store.Blobs);
        B3Digest[] digests = await Task.WhenAll(contents.Select(data => Task.Run(() => WriteAsync(batch, data))));
        await batch.CommitAsync();

        var distinct = digests.Distinct().ToList();
        Assert.That(distinct, Has.Count.EqualTo(41));
        Assert.That(distinct, Does.Contain(stored));
        foreach ((B3Digest digest, byte[] data) in digests.Zip(contents))
            Assert.That(await Store.Blobs.StatAsync(digest), Is.EqualTo(data.Length));
        Assert.That(BlobFiles.Count(), Is.EqualTo(41));
        Assert.That(TempFiles, Is.Empty);

        // The batch goes on after a commit.
        B3Digest later = await WriteAsync(batch, Pattern(7, seed: 1234));
        Assert.That(await Store.Blobs.StatAsync(later), Is.Null);
        await batch.CommitAsync();
        Assert.That(await Store.Blobs.StatAsync(later), Is.EqualTo(7));
    }

    [Test]
    public async Task A_graph_put_names_no_directory_before_its_children()
    {
        // leaf <- middle <- root, each in its own shard; the leaf's shard is made unusable (a file
        // where the shard directory goes), so its rename fails: nothing renamed after it may be visible.
        (Directory leaf, Directory middle, Directory root) = DistinctlyShardedChain();
        string directories = Path.Join(Root, "directories");
        string leafShard = Path.Join(directories, DirectoryRules.Digest(leaf).ToHex()[..2]);
        File.WriteAllText(leafShard, "not a shard");

        await using (IDirectoryPutter putter = Store.Directories.BeginPut())
        {
            await putter.PutAsync(leaf);
            await putter.PutAsync(middle);
            await putter.PutAsync(root);
            Assert.That(async () => await putter.CloseAsync(), Throws.InstanceOf<StoreUnavailableException>());
        }
        Assert.That(await Store.Directories.GetAsync(DirectoryRules.Digest(middle)), Is.Null);
        Assert.That(await Store.Directories.GetAsync(DirectoryRules.Digest(root)), Is.Null);
        Assert.That(TempFiles, Is.Empty);

        // With the shard usable the same graph is stored whole.
        File.Delete(leafShard);
        await using StoreServices reopened = _store.Reopen();
        await using (IDirectoryPutter putter = reopened.Directories.BeginPut())
        {
            await putter.PutAsync(leaf);
            await putter.PutAsync(middle);
            await putter.PutAsync(root);
            Assert.That(await putter.CloseAsync(), Is.EqualTo(DirectoryRules.Digest(root)));
        }
        Assert.That(await reopened.Directories.GetRecursiveAsync(DirectoryRules.Digest(root)).CountAsync(), Is.EqualTo(3));
        Assert.That(TempFiles, Is.Empty);
    }

    /// <summary>A chain of three directories whose digests start with three different bytes (bounded search).</summary>
    private static (Directory Leaf, Directory Middle, Directory Root) DistinctlyShardedChain()
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            var leaf = new Directory { Symlinks = { SymlinkEntry("link", $"target-{attempt}") } };
            var middle = new Directory { Directories = { DirectoryEntry("leaf", leaf) } };
            var root = new Directory { Directories = { DirectoryEntry("middle", middle) } };
            var shards = new[] { leaf, middle, root }.Select(d => DirectoryRules.Digest(d).ToHex()[..2]).Distinct().Count();
            if (shards == 3)
                return (leaf, middle, root);
        }
        throw new InvalidOperationException("no chain with three distinct shards in 1000 attempts");
    }

    [Test]
    public async Task A_failed_nar_ingest_leaves_no_blob_and_no_temp_file()
    {
        byte[] nar = NaiveNar.Of(TreeDirectory.Of(
            ("a", TreeFile.Text("first file\n")),
            ("b", TreeFile.Text("second file\n")),
            ("c", TreeDirectory.Of(("d", TreeFile.Text("third file\n"))))));
        byte[] truncated = nar[..^8];
        var ingester = new NarIngester(Store.Blobs, Store.Directories);

        Assert.That(async () => await ingester.IngestAsync(new MemoryStream(truncated), (ulong)nar.Length), Throws.InstanceOf<InvalidNarException>());
        Assert.That(BlobFiles, Is.Empty, "the files read before the failure are not stored");
        Assert.That(TempFiles, Is.Empty);

        NarIngestResult result = await ingester.IngestAsync(new MemoryStream(nar), (ulong)nar.Length);
        Assert.That(BlobFiles.Count(), Is.EqualTo(3));
        Assert.That(await Store.Directories.GetRecursiveAsync(B3Digest.FromByteString(result.Root.Directory.Digest)).CountAsync(), Is.EqualTo(2));
        Assert.That(TempFiles, Is.Empty);
    }
}
