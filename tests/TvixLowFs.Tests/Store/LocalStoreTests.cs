using NUnit.Framework;
using Google.Protobuf;
using Microsoft.Win32.SafeHandles;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using static TvixLowFs.Tests.Store.TestTrees;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Store;

/// <summary>What only the on-disk store promises: its format, durability rules and sharing between instances.</summary>
public sealed class LocalStoreTests
{
    private TestStore _store = null!;
    private string Root => _store.Directory!;
    private StoreServices Store => _store.Services;

    [SetUp]
    public void SetUp() => _store = TestStore.Create(StoreKind.Local);

    [TearDown]
    public async Task TearDown() => await _store.DisposeAsync();

    [Test]
    public async Task Objects_are_laid_out_as_the_readme_documents()
    {
        byte[] data = Pattern(3000);
        B3Digest blob = await PutBlobAsync(Store.Blobs, data);
        var directory = new Directory { Files = { new FileNode { Name = Bytes("f"), Digest = blob.ToByteString(), Size = 3000 } } };
        B3Digest dir = await Store.Directories.PutAsync(directory);
        TvixLowFs.Store.Model.StorePath storePath = NixStorePathBuilder.ForSource(new byte[32], "x");
        var pathInfo = new PathInfo { Node = new Node { Directory = new DirectoryNode { Name = Bytes(storePath.Basename), Digest = dir.ToByteString(), Size = 1 } } };
        await Store.PathInfos.PutAsync(pathInfo);

        Assert.That(File.ReadAllLines(Path.Join(Root, "tvixlowfs-store"))[0], Is.EqualTo(LocalStore.FormatMarker));
        Assert.That(File.ReadAllBytes(Path.Join(Root, "blobs", blob.ToHex()[..2], blob.ToHex())), Is.EqualTo(data));
        Assert.That(File.ReadAllBytes(Path.Join(Root, "directories", dir.ToHex()[..2], dir.ToHex())), Is.EqualTo(DirectoryEncoding.Canonical(directory)));
        Assert.That(File.ReadAllBytes(Path.Join(Root, "pathinfos", storePath.HashPart)), Is.EqualTo(pathInfo.ToByteArray()));
        Assert.That(System.IO.Directory.EnumerateFileSystemEntries(Path.Join(Root, "tmp")), Is.Empty);
    }

    [Test]
    public async Task A_blob_reader_exposes_the_blob_file_for_splicing()
    {
        byte[] data = Pattern(70_000, seed: 9);
        B3Digest digest = await PutBlobAsync(Store.Blobs, data);
        using BlobReader reader = (await Store.Blobs.OpenReadAsync(digest))!;
        SafeFileHandle? file = reader.LocalFile;
        Assert.That(file, Is.Not.Null);
        var buffer = new byte[1000];
        Assert.That(RandomAccess.Read(file!, buffer, 65_000), Is.EqualTo(1000));
        Assert.That(buffer, Is.EqualTo(data[65_000..66_000]));
        Assert.That(RandomAccess.GetLength(file!), Is.EqualTo(data.Length));
    }

    [Test]
    public async Task Everything_survives_reopening_the_directory()
    {
        Node root = await UploadAsync(Store, Sample());
        await using StoreServices reopened = _store.Reopen();
        NarHash before = await Store.PathInfos.CalculateNarAsync(root);
        NarHash after = await reopened.PathInfos.CalculateNarAsync(root);
        Assert.That((after.NarSize, after.NarSha256), Is.EqualTo((before.NarSize, before.NarSha256)));
    }

    [Test]
    public async Task The_store_directory_is_created_on_first_use()
    {
        string nested = Path.Join(Root, "..", Path.GetFileName(Root) + "-nested", "a", "b");
        try
        {
            await using StoreServices store = new StoreOpener().Open(StoreAddress.Parse("local://" + Path.GetFullPath(nested)));
            Assert.That(File.Exists(Path.Join(nested, LocalStore.MarkerFileName)));
            Assert.That(await PutBlobAsync(store.Blobs, "x"u8.ToArray()), Is.EqualTo(B3Digest.Compute("x"u8)));
        }
        finally
        {
            System.IO.Directory.Delete(Path.GetFullPath(Path.Join(nested, "..", "..")), recursive: true);
        }
    }

    [Test]
    public async Task A_corrupt_directory_file_is_reported_not_returned()
    {
        var directory = new Directory { Symlinks = { SymlinkEntry("s", "target") } };
        B3Digest digest = await Store.Directories.PutAsync(directory);
        string path = Path.Join(Root, "directories", digest.ToHex()[..2], digest.ToHex());
        File.WriteAllBytes(path, DirectoryEncoding.Canonical(new Directory { Symlinks = { SymlinkEntry("s", "other") } }));

        var error = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await Store.Directories.GetAsync(digest));
        Assert.That(error!.Message, Does.Contain("corrupt"));
    }

    [Test]
    public async Task A_corrupt_pathinfo_file_is_reported_not_returned()
    {
        TvixLowFs.Store.Model.StorePath storePath = NixStorePathBuilder.ForSource(new byte[32], "x");
        File.WriteAllBytes(Path.Join(Root, "pathinfos", storePath.HashPart), [0xFF, 0xFF, 0xFF]);
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await Store.PathInfos.GetAsync(storePath.Hash));
    }

    [Test]
    public async Task A_missing_descendant_fails_the_recursive_get()
    {
        var leaf = new Directory { Files = { FileEntry("f") } };
        var root = new Directory { Directories = { DirectoryEntry("leaf", leaf) } };
        await Store.Directories.PutAsync(leaf);
        B3Digest rootDigest = await Store.Directories.PutAsync(root);
        B3Digest leafDigest = DirectoryRules.Digest(leaf);
        File.Delete(Path.Join(Root, "directories", leafDigest.ToHex()[..2], leafDigest.ToHex()));

        await Assert.ThrowsAsync<StoreNotFoundException>(async () =>
        {
            await foreach (VerifiedDirectory _ in Store.Directories.GetRecursiveAsync(rootDigest)) { }
        });
    }

    [Test]
    public void An_unrelated_directory_is_refused()
    {
        string foreign = Root + "-foreign";
        System.IO.Directory.CreateDirectory(foreign);
        File.WriteAllText(Path.Join(foreign, "notes.txt"), "mine");
        try
        {
            var error = Assert.Throws<StoreUnavailableException>(() => new StoreOpener().Open(StoreAddress.ForLocalDirectory(foreign)));
            Assert.That(error!.Message, Does.Contain(foreign).And.Contain("notes.txt"));
            Assert.That(System.IO.Directory.Exists(Path.Join(foreign, "blobs")), Is.False);
        }
        finally
        {
            System.IO.Directory.Delete(foreign, recursive: true);
        }
    }

    [Test]
    public void A_store_of_another_format_is_refused()
    {
        File.WriteAllText(Path.Join(Root, LocalStore.MarkerFileName), "tvixlowfs local store, format 99\n");
        var error = Assert.Throws<StoreUnavailableException>(() => _store.Reopen());
        Assert.That(error!.Message, Does.Contain("format 99"));
    }

    [Test]
    public void Stale_temp_files_of_dead_writers_are_swept_live_and_recent_ones_kept()
    {
        string tmp = Path.Join(Root, "tmp");
        string stale = Path.Join(tmp, "blob-1-stale");
        string recent = Path.Join(tmp, "blob-1-recent");
        string live = Path.Join(tmp, "blob-1-live");
        foreach (string path in new[] { stale, recent, live })
            File.WriteAllText(path, "partial");
        File.SetLastWriteTimeUtc(stale, DateTime.UtcNow.AddHours(-2));
        File.SetLastWriteTimeUtc(live, DateTime.UtcNow.AddHours(-2));
        // A writer holds its temp file under an exclusive lock for as long as it writes.
        using (SafeFileHandle writer = File.OpenHandle(live, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            StoreServices reopened = _store.Reopen();
            _ = reopened.DisposeAsync();
        }

        Assert.That(File.Exists(stale), Is.False);
        Assert.That(File.Exists(recent), Is.True);
        Assert.That(File.Exists(live), Is.True);
    }

    [Test]
    public async Task Roles_naming_one_directory_share_one_local_store()
    {
        string other = Root + "-other";
        try
        {
            await using StoreServices services = new StoreOpener().Open(
                StoreAddress.Parse("local://" + Root), StoreAddress.Parse("local://" + Root + "/"), StoreAddress.Parse("local://" + other));
            LocalStore blobs = ((LocalBlobService)services.Blobs).Store;
            Assert.That(((LocalDirectoryService)services.Directories).Store, Is.SameAs(blobs));
            Assert.That(((LocalPathInfoService)services.PathInfos).Store, Is.Not.SameAs(blobs));
            Assert.That(((LocalPathInfoService)services.PathInfos).Store.Root, Is.EqualTo(other));
        }
        finally
        {
            System.IO.Directory.Delete(other, recursive: true);
        }
    }

    [Test]
    public async Task A_reader_may_open_a_blob_the_moment_it_appears()
    {
        // A reader in another instance polls for each blob while it is being published: opening
        // must either find nothing or the whole blob, never fail (no writer's lock on the final name).
        await using StoreServices reader = _store.Reopen();
        byte[][] contents = Enumerable.Range(0, 60).Select(i => Pattern(1000 + i, seed: 500 + i)).ToArray();
        B3Digest[] digests = contents.Select(c => B3Digest.Compute(c)).ToArray();

        Task writing = Task.Run(async () =>
        {
            foreach (byte[] data in contents)
                await PutBlobAsync(Store.Blobs, data);
        });
        for (int i = 0; i < digests.Length; i++)
        {
            BlobReader? opened;
            while ((opened = await reader.Blobs.OpenReadAsync(digests[i])) is null)
                Assert.That(writing.IsFaulted, Is.False);
            using (opened)
            {
                var buffer = new byte[contents[i].Length];
                Assert.That(await opened.ReadAtAsync(0, buffer), Is.EqualTo(buffer.Length));
                Assert.That(buffer, Is.EqualTo(contents[i]));
            }
        }
        await writing;
    }

    [Test]
    public async Task Two_instances_writing_the_same_objects_at_once_agree()
    {
        // Two StoreServices on one directory behave like two processes: nothing is shared in memory.
        await using StoreServices other = _store.Reopen();
        TreeDirectory tree = Sample();
        Task<Node>[] uploads =
        [
            Task.Run(() => UploadAsync(Store, tree)),
            Task.Run(() => UploadAsync(other, tree)),
            Task.Run(() => UploadAsync(Store, tree)),
            Task.Run(() => UploadAsync(other, tree)),
        ];
        Node[] roots = await Task.WhenAll(uploads);

        Assert.That(roots.Distinct().Count(), Is.EqualTo(1));
        byte[] nar = NaiveNar.Of(tree);
        NarHash computed = await other.PathInfos.CalculateNarAsync(roots[0]);
        Assert.That(Convert.ToHexStringLower(computed.NarSha256), Is.EqualTo(NaiveNar.Sha256Hex(nar)));
        Assert.That(System.IO.Directory.EnumerateFileSystemEntries(Path.Join(Root, "tmp")), Is.Empty);
        foreach (string blob in System.IO.Directory.EnumerateFiles(Path.Join(Root, "blobs"), "*", SearchOption.AllDirectories))
            Assert.That(B3Digest.Compute(File.ReadAllBytes(blob)).ToHex(), Is.EqualTo(Path.GetFileName(blob)));
    }
    [Test]
    public async Task Two_instances_racing_to_register_one_store_path_with_different_roots_leave_exactly_one()
    {
        // Stand-ins for two processes: nothing is shared in memory, so only the file system can
        // decide. The loser must see the winner's PathInfo: same root would be success, another root
        // StorePathConflictException, and the stored file is the winner's (was: check-then-rename,
        // both won and the second rename replaced the first).
        await using StoreServices other = _store.Reopen();
        const int rounds = 150;
        for (int round = 0; round < rounds; round++)
        {
            string basename = NixStorePathBuilder.ForSource(BitConverter.GetBytes(round).Concat(new byte[28]).ToArray(), "race").Basename;
            PathInfo WithTarget(string target) => new() { Node = new Node { Symlink = new SymlinkNode { Name = Bytes(basename), Target = Bytes(target) } } };
            PathInfo mine = WithTarget("/one"), theirs = WithTarget("/two");
            using var start = new Barrier(2);
            async Task<Exception?> PutAsync(StoreServices store, PathInfo pathInfo)
            {
                start.SignalAndWait();
                try
                {
                    await store.PathInfos.PutAsync(pathInfo);
                    return null;
                }
                catch (StorePathConflictException e)
                {
                    return e;
                }
            }
            Exception?[] outcomes = await Task.WhenAll(Task.Run(() => PutAsync(Store, mine)), Task.Run(() => PutAsync(other, theirs)));
            Assert.That(outcomes.Count(o => o is null), Is.EqualTo(1), $"round {round}: exactly one put wins");
            PathInfo winner = outcomes[0] is null ? mine : theirs;
            StorePathHash hash = PathInfoRules.Validate(winner).Hash;
            Assert.That(await Store.PathInfos.GetAsync(hash), Is.EqualTo(winner), $"round {round}: the winner's root is stored");
            Assert.That(await other.PathInfos.GetAsync(hash), Is.EqualTo(winner), $"round {round}: both instances see it");
        }
        Assert.That(System.IO.Directory.EnumerateFileSystemEntries(Path.Join(Root, "tmp")), Is.Empty);
    }

    [Test]
    public void The_no_replace_rename_and_its_link_fallback_keep_the_first_name()
    {
        string directory = Path.Join(Root, "tmp");
        foreach (Func<string, string, bool> publish in new Func<string, string, bool>[] { StoreFiles.RenameNoReplace, StoreFiles.LinkNoReplace })
        {
            string first = Path.Join(directory, "first"), second = Path.Join(directory, "second"), target = Path.Join(directory, "target");
            File.WriteAllText(first, "first");
            File.WriteAllText(second, "second");
            Assert.That(publish(first, target), Is.True);
            Assert.That(publish(second, target), Is.False, "an existing name is never replaced");
            Assert.That(File.ReadAllText(target), Is.EqualTo("first"));
            foreach (string path in new[] { first, second, target })
                File.Delete(path);
        }
    }
}
