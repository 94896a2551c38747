using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.ObjectStore;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Store;
using static TvixLowFs.Tests.Store.TestTrees;

namespace TvixLowFs.Tests.ObjectStore;

/// <summary>
/// What lands in the bucket, seen through boto3 (the independent client): snix's layout, chunks
/// stored once, and corrupted objects that are detected and never served, then served once restored.
/// </summary>
[CancelAfter(300_000)]
public sealed class ObjectStoreLayoutTests
{
    private ObjectStoreBuckets _bucket = null!;
    private string _prefix = null!;
    private StoreServices _store = null!;

    [SetUp]
    public void SetUp()
    {
        _bucket = ObjectStoreBuckets.Shared;
        _prefix = "layout-" + Guid.NewGuid().ToString("N")[..12];
        _store = ObjectStoreBuckets.Open(_bucket.Address(_prefix));
    }

    [TearDown]
    public async Task TearDown() => await _store.DisposeAsync();

    private Dictionary<string, long> Keys(string kind) => S3Check.Keys(_bucket.Rgw, _bucket.Bucket, $"{_prefix}/{kind}/");

    private static string Sharded(string prefix, string kind, B3Digest digest) => $"{prefix}/{kind}/b3/{digest.ToHex()[..4]}/{digest.ToHex()}";

    [Test]
    public async Task A_large_blob_lands_as_zstd_chunks_and_a_chunk_list_under_sharded_keys()
    {
        byte[] data = Pattern(3 * 1024 * 1024 + 17, seed: 21);
        B3Digest digest = await PutBlobAsync(_store.Blobs, data, chunk: 100_000);

        Dictionary<string, long> blobs = Keys("blobs"), chunks = Keys("chunks");
        Assert.That(blobs.Keys, Is.EqualTo(new[] { Sharded(_prefix, "blobs", digest) }));
        List<ChunkMeta> list = ChunkList.Decode(S3Check.Get(_bucket.Rgw, _bucket.Bucket, Sharded(_prefix, "blobs", digest)));
        Assert.That(list, Has.Count.GreaterThanOrEqualTo(4), "3 MiB at 256 KiB average");
        Assert.That(list.Sum(chunk => (long)chunk.Size), Is.EqualTo(data.Length));
        Assert.That(chunks.Keys, Is.EquivalentTo(list.Select(chunk => Sharded(_prefix, "chunks", chunk.Digest)).Distinct()));

        // Each chunk object is a zstd frame of exactly the chunk's bytes (decoded here by zstd itself).
        long offset = 0;
        foreach (ChunkMeta chunk in list)
        {
            byte[] compressed = S3Check.Get(_bucket.Rgw, _bucket.Bucket, Sharded(_prefix, "chunks", chunk.Digest));
            byte[] plain = BinaryCache.ChildProcess.Run("zstd", ["-d", "-c"], input: compressed).Succeeded("zstd -d").Stdout;
            Assert.That(plain.AsSpan().SequenceEqual(data.AsSpan((int)offset, chunk.Size)), $"chunk at {offset}");
            Assert.That(B3Digest.Compute(plain), Is.EqualTo(chunk.Digest));
            offset += chunk.Size;
        }
    }

    [Test]
    public async Task Directories_land_as_closures_and_PathInfos_under_their_nixbase32_hash()
    {
        Node root = await UploadAsync(_store, Sample(), "sample");
        B3Digest rootDigest = B3Digest.FromByteString(root.Directory.Digest);
        var pathInfo = new PathInfo
        {
            Node = new Node { Directory = new DirectoryNode { Name = Bytes(new string('0', 32) + "-sample"), Digest = root.Directory.Digest, Size = root.Directory.Size } },
        };
        await _store.PathInfos.PutAsync(pathInfo);

        Dictionary<string, long> dirs = Keys("dirs");
        Assert.That(dirs, Has.Count.EqualTo(5), "sample has 5 directories: root, bin, empty-dir, nested, deeper");
        // The root's object is its whole closure, root first, each message length-prefixed (u32 big-endian).
        byte[] closure = S3Check.Get(_bucket.Rgw, _bucket.Bucket, Sharded(_prefix, "dirs", rootDigest));
        var digests = new List<B3Digest>();
        for (int at = 0; at < closure.Length;)
        {
            int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(closure.AsSpan(at));
            digests.Add(B3Digest.Compute(closure.AsSpan(at + 4, length)));
            at += 4 + length;
        }
        Assert.That(digests[0], Is.EqualTo(rootDigest));
        Assert.That(digests.Select(d => Sharded(_prefix, "dirs", d)), Is.EquivalentTo(dirs.Keys));

        Assert.That(Keys("pathinfos").Keys, Is.EqualTo(new[] { $"{_prefix}/pathinfos/{new string('0', 32)}" }));
        byte[] stored = S3Check.Get(_bucket.Rgw, _bucket.Bucket, $"{_prefix}/pathinfos/{new string('0', 32)}");
        Assert.That(PathInfo.Parser.ParseFrom(stored), Is.EqualTo(pathInfo));
    }

    [Test]
    public async Task Two_versions_of_a_large_file_share_most_chunks()
    {
        byte[] first = Pattern(6 * 1024 * 1024, seed: 31);
        byte[] second = [.. first.AsSpan(0, 2_500_000), .. Pattern(4096, seed: 32), .. first.AsSpan(2_500_000)];
        B3Digest firstDigest = await PutBlobAsync(_store.Blobs, first);
        int afterFirst = Keys("chunks").Count;
        B3Digest secondDigest = await PutBlobAsync(_store.Blobs, second, chunk: 12345);
        int afterSecond = Keys("chunks").Count;

        Assert.That(afterSecond - afterFirst, Is.InRange(1, 3), $"{afterFirst} chunks for the first version");
        foreach ((B3Digest digest, byte[] data) in new[] { (firstDigest, first), (secondDigest, second) })
        {
            using BlobReader reader = (await _store.Blobs.OpenReadAsync(digest))!;
            var back = new byte[data.Length];
            Assert.That(await reader.ReadAtAsync(0, back), Is.EqualTo(data.Length));
            Assert.That(back.AsSpan().SequenceEqual(data));
        }
    }

    [Test]
    public async Task A_corrupted_chunk_is_never_served_and_its_restored_bytes_are()
    {
        byte[] data = Pattern(2 * 1024 * 1024, seed: 41);
        B3Digest digest = await PutBlobAsync(_store.Blobs, data);
        List<ChunkMeta> list = ChunkList.Decode(S3Check.Get(_bucket.Rgw, _bucket.Bucket, Sharded(_prefix, "blobs", digest)));
        string victim = Sharded(_prefix, "chunks", list[1].Digest);
        byte[] original = S3Check.Get(_bucket.Rgw, _bucket.Bucket, victim);

        // A valid zstd frame of other bytes of the same size: only the digest check can catch it.
        byte[] forged = BinaryCache.ChildProcess.Run("zstd", ["-c", "-q"], input: Pattern(list[1].Size, seed: 42)).Succeeded("zstd").Stdout;
        S3Check.Put(_bucket.Rgw, _bucket.Bucket, victim, forged);
        var error = await Assert.ThrowsAsync<StoreUnavailableException>(async () => (await _store.Blobs.OpenReadAsync(digest))?.Dispose());
        Assert.That(error!.Message, Does.Contain(digest.ToString()).And.Contain(victim).And.Contain("hash"));

        S3Check.Put(_bucket.Rgw, _bucket.Bucket, victim, [1, 2, 3]);
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => (await _store.Blobs.OpenReadAsync(digest))?.Dispose());

        S3Check.Put(_bucket.Rgw, _bucket.Bucket, victim, original);
        using BlobReader reader = (await _store.Blobs.OpenReadAsync(digest))!;
        var back = new byte[data.Length];
        Assert.That(await reader.ReadAtAsync(0, back), Is.EqualTo(data.Length));
        Assert.That(back.AsSpan().SequenceEqual(data));
    }

    [Test]
    public async Task A_chunk_list_naming_other_chunks_is_caught_by_the_blob_digest()
    {
        byte[] data = Pattern(1_500_000, seed: 51), other = Pattern(1_500_000, seed: 52);
        B3Digest digest = await PutBlobAsync(_store.Blobs, data);
        B3Digest otherDigest = await PutBlobAsync(_store.Blobs, other);
        // Every chunk is intact, but the list is another blob's.
        S3Check.Put(_bucket.Rgw, _bucket.Bucket, Sharded(_prefix, "blobs", digest),
            S3Check.Get(_bucket.Rgw, _bucket.Bucket, Sharded(_prefix, "blobs", otherDigest)));
        var error = await Assert.ThrowsAsync<StoreUnavailableException>(async () => (await _store.Blobs.OpenReadAsync(digest))?.Dispose());
        Assert.That(error!.Message, Does.Contain("hash to " + otherDigest));
    }

    [Test]
    public async Task A_corrupted_directory_or_PathInfo_is_never_served_and_restored_ones_are()
    {
        Node root = await UploadAsync(_store, Sample(), "sample");
        B3Digest rootDigest = B3Digest.FromByteString(root.Directory.Digest);
        string key = Sharded(_prefix, "dirs", rootDigest);
        byte[] original = S3Check.Get(_bucket.Rgw, _bucket.Bucket, key);
        byte[] flipped = (byte[])original.Clone();
        flipped[10] ^= 0x20;
        S3Check.Put(_bucket.Rgw, _bucket.Bucket, key, flipped);
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await _store.Directories.GetAsync(rootDigest));
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await _store.Directories.GetRecursiveAsync(rootDigest).ToListAsync());
        S3Check.Put(_bucket.Rgw, _bucket.Bucket, key, original);
        Assert.That(await _store.Directories.GetRecursiveAsync(rootDigest).CountAsync(), Is.EqualTo(5));

        var pathInfo = new PathInfo { Node = new Node { Symlink = new SymlinkNode { Name = Bytes(new string('1', 32) + "-link"), Target = Bytes("/x") } } };
        await _store.PathInfos.PutAsync(pathInfo);
        string pathInfoKey = $"{_prefix}/pathinfos/{new string('1', 32)}";
        var elsewhere = new PathInfo { Node = new Node { Symlink = new SymlinkNode { Name = Bytes(new string('2', 32) + "-link"), Target = Bytes("/x") } } };
        S3Check.Put(_bucket.Rgw, _bucket.Bucket, pathInfoKey, Google.Protobuf.MessageExtensions.ToByteArray(elsewhere));
        StorePathHash hash = PathInfoRules.Validate(pathInfo).Hash;
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await _store.PathInfos.GetAsync(hash));
        S3Check.Put(_bucket.Rgw, _bucket.Bucket, pathInfoKey, Google.Protobuf.MessageExtensions.ToByteArray(pathInfo));
        Assert.That(await _store.PathInfos.GetAsync(hash), Is.EqualTo(pathInfo));
    }
}
