using System.Collections.Concurrent;
using NUnit.Framework;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Memory;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using static TvixLowFs.Tests.Store.TestTrees;

namespace TvixLowFs.Tests.Store;

/// <summary>
/// Ranged reads of a chunked remote blob through the read-through cache: a read fetches only the
/// chunks it touches (each verified and kept), a reader in order starts the next ones early, and a
/// chunk list that does not add up to the blob is caught once the reader has been through it.
/// </summary>
[CancelAfter(120_000)]
public sealed class ChunkedBlobReaderTests
{
    private const int ChunkSize = 256 * 1024, Chunks = 40;
    private string _cacheDirectory = null!;

    [SetUp]
    public void SetUp()
    {
        _cacheDirectory = Path.Combine(Path.GetTempPath(), "tvixlowfs-chunked-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(_cacheDirectory);
    }

    [TearDown]
    public void TearDown() => System.IO.Directory.Delete(_cacheDirectory, recursive: true);

    /// <summary>
    /// Test double: a remote that keeps blobs as chunk lists (as a daemon on an object store does),
    /// counting which digests were read from it; its list for a blob may be set to lie.
    /// </summary>
    private sealed class ChunkListingRemote : IBlobService, IBlobChunkSource
    {
        private readonly MemoryBlobService _chunks = new();
        private readonly Dictionary<B3Digest, IReadOnlyList<BlobChunkInfo>> _lists = [];

        public ConcurrentDictionary<B3Digest, int> Reads { get; } = new();

        public async Task<(B3Digest Blob, byte[] Bytes, IReadOnlyList<BlobChunkInfo> Chunks)> AddAsync(int seed)
        {
            byte[] bytes = Pattern(ChunkSize * Chunks - 1000, seed);
            var chunks = new List<BlobChunkInfo>();
            for (int offset = 0; offset < bytes.Length; offset += ChunkSize)
            {
                byte[] piece = bytes[offset..Math.Min(bytes.Length, offset + ChunkSize)];
                await using BlobWriter writer = _chunks.OpenWrite();
                await writer.WriteAsync(piece);
                chunks.Add(new BlobChunkInfo(await writer.CloseAsync(), piece.Length));
            }
            B3Digest blob = B3Digest.Compute(bytes);
            _lists[blob] = chunks;
            return (blob, bytes, chunks);
        }

        public void SetList(B3Digest blob, IReadOnlyList<BlobChunkInfo> chunks) => _lists[blob] = chunks;

        public ValueTask<IReadOnlyList<BlobChunkInfo>?> StatChunksAsync(B3Digest digest, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(_lists.TryGetValue(digest, out var chunks) ? chunks : null);

        public async ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default) =>
            _lists.TryGetValue(digest, out var chunks) ? chunks.Sum(chunk => chunk.Size) : await _chunks.StatAsync(digest, cancellationToken);

        public ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default)
        {
            Reads.AddOrUpdate(digest, 1, (_, n) => n + 1);
            if (_lists.ContainsKey(digest))
                throw new AssertionException($"blob {digest} was fetched whole; only its chunks should be");
            return _chunks.OpenReadAsync(digest, cancellationToken);
        }

        public BlobWriter OpenWrite() => throw new NotSupportedException();

        public ValueTask DisposeAsync() => _chunks.DisposeAsync();
    }

    private CachingBlobService Cache(ChunkListingRemote remote) =>
        new(remote, new LocalBlobService(LocalStore.Open(_cacheDirectory)));

    [Test]
    public async Task A_read_in_the_middle_fetches_only_the_chunk_it_touches()
    {
        var remote = new ChunkListingRemote();
        (B3Digest blob, byte[] bytes, IReadOnlyList<BlobChunkInfo> chunks) = await remote.AddAsync(seed: 3);
        await using CachingBlobService cache = Cache(remote);

        using BlobReader reader = (await cache.OpenReadAsync(blob, bytes.Length))!;
        Assert.That(reader, Is.InstanceOf<ChunkedBlobReader>());
        Assert.That(reader.Length, Is.EqualTo(bytes.Length));
        long offset = 17L * ChunkSize + 12_345;
        var buffer = new byte[4096];
        Assert.That(await reader.ReadAtAsync(offset, buffer), Is.EqualTo(buffer.Length));
        Assert.That(buffer, Is.EqualTo(bytes[(int)offset..((int)offset + buffer.Length)]));
        Assert.That(remote.Reads.Keys, Is.EquivalentTo(new[] { chunks[17].Digest }), "only the chunk read was fetched");

        // Across a chunk boundary: the first chunk not again (kept), the second fetched now. Going on
        // into the next chunk is reading in order, so a few chunks after it may be started too.
        offset = 18L * ChunkSize - 100;
        Assert.That(await reader.ReadAtAsync(offset, buffer), Is.EqualTo(buffer.Length));
        Assert.That(buffer, Is.EqualTo(bytes[(int)offset..((int)offset + buffer.Length)]));
        Assert.That(remote.Reads.Keys, Does.Contain(chunks[18].Digest));
        Assert.That(remote.Reads.Keys, Is.SubsetOf(chunks.Skip(17).Take(2 + ChunkedBlobReader.SequentialReadAhead).Select(chunk => chunk.Digest)));
        Assert.That(remote.Reads[chunks[17].Digest], Is.EqualTo(1), "a chunk is fetched once");
    }

    [Test]
    public async Task A_reader_in_order_reads_the_whole_blob_and_starts_the_next_chunks_early()
    {
        var remote = new ChunkListingRemote();
        (B3Digest blob, byte[] bytes, IReadOnlyList<BlobChunkInfo> chunks) = await remote.AddAsync(seed: 4);
        await using CachingBlobService cache = Cache(remote);
        using BlobReader reader = (await cache.OpenReadAsync(blob, bytes.Length))!;

        var read = new byte[bytes.Length];
        var buffer = new byte[128 * 1024];
        for (long offset = 0; offset < bytes.Length;)
        {
            int n = await reader.ReadAtAsync(offset, buffer);
            Assert.That(n, Is.GreaterThan(0));
            buffer.AsSpan(0, n).CopyTo(read.AsSpan((int)offset));
            offset += n;
            if (offset == 3L * ChunkSize)
            {
                // Chunks 0–2 read in order: chunks ahead of the reader are on their way already.
                for (int i = 0; i < 100 && !remote.Reads.ContainsKey(chunks[4].Digest); i++)
                    await Task.Delay(20);
                Assert.That(remote.Reads.ContainsKey(chunks[4].Digest), Is.True, "a sequential reader fetches ahead");
            }
        }
        Assert.That(read, Is.EqualTo(bytes));
        Assert.That(remote.Reads.Keys, Is.EquivalentTo(chunks.Select(chunk => chunk.Digest)));
    }

    [Test]
    public async Task A_chunk_list_that_does_not_add_up_to_the_blob_fails_the_read_that_completes_it_and_every_read_after()
    {
        var remote = new ChunkListingRemote();
        (B3Digest blob, byte[] bytes, IReadOnlyList<BlobChunkInfo> chunks) = await remote.AddAsync(seed: 5);
        (_, _, IReadOnlyList<BlobChunkInfo> other) = await remote.AddAsync(seed: 6);
        // The lie: the blob's list names another blob's (valid, verified) last chunk.
        remote.SetList(blob, [.. chunks.Take(Chunks - 1), other[^1]]);
        await using CachingBlobService cache = Cache(remote);
        using BlobReader reader = (await cache.OpenReadAsync(blob, bytes.Length))!;

        var buffer = new byte[ChunkSize];
        for (int i = 0; i < Chunks - 1; i++)
            Assert.That(await reader.ReadAtAsync((long)i * ChunkSize, buffer), Is.EqualTo(ChunkSize));
        await Assert.ThrowsAsync<StoreValidationException>(async () => await reader.ReadAtAsync((long)(Chunks - 1) * ChunkSize, buffer));
        await Assert.ThrowsAsync<StoreValidationException>(async () => await reader.ReadAtAsync(0, buffer), "nothing more is served");
    }

    [Test]
    public async Task A_small_blob_or_one_of_a_single_chunk_is_fetched_whole_as_before()
    {
        var remote = new ChunkListingRemote();
        (B3Digest blob, byte[] bytes, IReadOnlyList<BlobChunkInfo> chunks) = await remote.AddAsync(seed: 7);
        await using CachingBlobService cache = Cache(remote);
        // A chunk is a blob of its own (one chunk): an open of it is a plain fill, a local file.
        using (BlobReader chunk = (await cache.OpenReadAsync(chunks[0].Digest, chunks[0].Size))!)
            Assert.That(chunk.LocalFile, Is.Not.Null);
        Assert.That(ChunkedBlobReader.MinimumBlobSize, Is.LessThanOrEqualTo(bytes.Length));
    }
}
