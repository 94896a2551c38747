using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store;
using TvixLowFs.Store.Import;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;
using Directory = System.IO.Directory;

namespace TvixLowFs.Tests.Store;

/// <summary>
/// PathImporter hashes the NAR while it ingests (PlanNarHasher), from the bytes it stores, in
/// parallel across files: the hash must equal the one computed afterwards from what was stored
/// (NarCalculator over the stored graph), whatever the file sizes, order of completion and
/// parallelism, and a file whose size changed since the walk is refused before anything names it.
/// </summary>
[TestFixture]
public sealed class PathImporterTests
{
    private string root = null!;

    [SetUp]
    public void SetUp() => root = Directory.CreateTempSubdirectory("tvixlowfs-importer-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(root, recursive: true);

    private static readonly int[] Sizes = [0, 1, 255, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024 + 7];

    [TestCase(StoreKind.Local, 1)]
    [TestCase(StoreKind.Local, 8)]
    [TestCase(StoreKind.Memory, 3)]
    public async Task The_nar_hashed_during_ingest_equals_the_nar_of_what_was_stored(StoreKind kind, int parallelism)
    {
        string tree = Path.Join(root, "mixed");
        var random = new Random(16);
        for (int i = 0; i < 60; i++)
        {
            string directory = Path.Join(tree, $"d{i % 7}", $"e{i % 3}");
            Directory.CreateDirectory(directory);
            byte[] bytes = new byte[Sizes[i % Sizes.Length] + i];
            random.NextBytes(bytes);
            string file = Path.Join(directory, $"f{i:D2}");
            await File.WriteAllBytesAsync(file, bytes);
            if (i % 5 == 0)
                File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        Directory.CreateDirectory(Path.Join(tree, "empty"));
        File.CreateSymbolicLink(Path.Join(tree, "d1", "link"), "e0/f01");

        await AssertNarMatchesStoredAsync(kind, tree, parallelism);
    }

    [Test]
    public async Task Files_parked_past_the_budget_behind_a_big_first_file_still_hash_in_order()
    {
        // The first file (in NAR order) is larger than the parked budget and the ones after it add up
        // to more than it too: readers of later files wait, the big file's reader never does.
        string tree = Path.Join(root, "budget");
        Directory.CreateDirectory(tree);
        var random = new Random(2);
        byte[] big = new byte[80 << 20];
        random.NextBytes(big);
        await File.WriteAllBytesAsync(Path.Join(tree, "a-big"), big);
        byte[] small = new byte[1 << 20];
        for (int i = 0; i < 90; i++)
        {
            random.NextBytes(small);
            await File.WriteAllBytesAsync(Path.Join(tree, $"b-{i:D3}"), small);
        }

        await AssertNarMatchesStoredAsync(StoreKind.Local, tree, parallelism: 4);
    }

    [TestCase(StoreKind.Local)]
    [TestCase(StoreKind.Memory)]
    public async Task A_single_file_and_a_symlink_hash_like_their_stored_node(StoreKind kind)
    {
        string file = Path.Join(root, "single");
        await File.WriteAllBytesAsync(file, new byte[300_000]);
        await AssertNarMatchesStoredAsync(kind, file, parallelism: 2);
        string link = Path.Join(root, "alink");
        File.CreateSymbolicLink(link, "/somewhere/else");
        await AssertNarMatchesStoredAsync(kind, link, parallelism: 2);
    }

    [TestCase(+1)]
    [TestCase(-1)]
    public async Task A_file_whose_size_changed_since_the_walk_is_refused_and_names_nothing(int change)
    {
        string tree = Path.Join(root, "changing");
        Directory.CreateDirectory(tree);
        for (int i = 0; i < 20; i++)
            await File.WriteAllBytesAsync(Path.Join(tree, $"f{i:D2}"), new byte[1000 + i]);
        ImportPlan plan = ImportPlan.Create(tree);
        string changed = Path.Join(tree, "f07");
        await File.WriteAllBytesAsync(changed, new byte[1007 + change]);

        await using TestStore store = TestStore.Create(StoreKind.Local);
        var error = await Assert.ThrowsAsync<ImportException>(async () => await new PathImporter(store.Services, 3).PrepareAsync(plan));
        Assert.That(error!.Message, Does.Contain(changed).And.Contain("changed while being imported"));
        // Nothing was named: the batch was never committed, and its temp files are gone.
        Assert.That(Directory.EnumerateFiles(Path.Join(store.Directory!, "blobs"), "*", SearchOption.AllDirectories), Is.Empty);
        Assert.That(Directory.EnumerateFiles(Path.Join(store.Directory!, "tmp")), Is.Empty);
    }

    private static async Task AssertNarMatchesStoredAsync(StoreKind kind, string path, int parallelism)
    {
        await using TestStore store = TestStore.Create(kind);
        PreparedImport prepared = await new PathImporter(store.Services, parallelism).PrepareAsync(ImportPlan.Create(path));

        Node root = prepared.PathInfo.Node.Clone();
        NarHash stored = await new NarCalculator(store.Services.Blobs, store.Services.Directories).CalculateAsync(root);
        Assert.That(prepared.PathInfo.Narinfo.NarSize, Is.EqualTo(stored.NarSize));
        Assert.That(prepared.PathInfo.Narinfo.NarSha256.ToByteArray(), Is.EqualTo(stored.NarSha256));
        Assert.That(prepared.StorePath, Is.EqualTo(TvixLowFs.Store.Model.NixStorePathBuilder.ForSource(stored.NarSha256, Path.GetFileName(path))));
    }
}
