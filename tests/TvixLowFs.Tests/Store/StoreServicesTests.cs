using NUnit.Framework;
using System.Collections.Concurrent;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using static TvixLowFs.Tests.Store.TestTrees;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Store;

/// <summary>The service contract, run against every store kind alike.</summary>
[TestFixture(StoreKind.Memory)]
[TestFixture(StoreKind.Local)]
[TestFixture(StoreKind.ObjectStore)]
public sealed class StoreServicesTests(StoreKind kind)
{
    private TestStore _store = null!;
    private StoreServices Store => _store.Services;

    [SetUp]
    public void SetUp() => _store = TestStore.Create(kind);

    [TearDown]
    public async Task TearDown() => await _store.DisposeAsync();

    // ---- blobs ----

    [Test]
    public async Task Blob_round_trips_with_the_digest_the_service_computed()
    {
        byte[] data = Pattern(1_000_003);
        B3Digest digest = await PutBlobAsync(Store.Blobs, data, chunk: 70_001);

        Assert.That(digest, Is.EqualTo(B3Digest.Compute(data)));
        Assert.That(await Store.Blobs.StatAsync(digest), Is.EqualTo(data.Length));
        using BlobReader? reader = await Store.Blobs.OpenReadAsync(digest);
        Assert.That(reader, Is.Not.Null);
        Assert.That(reader!.Length, Is.EqualTo(data.Length));

        // Positional reads in any order, including a short read at the end and one past it.
        foreach (long offset in new long[] { 500_000, 0, 999_990, 123_457, 1_000_003, 2_000_000 })
        {
            var buffer = new byte[4096];
            int read = await reader.ReadAtAsync(offset, buffer);
            int expected = (int)Math.Clamp(data.Length - offset, 0, buffer.Length);
            Assert.That(read, Is.EqualTo(expected), $"offset {offset}");
            Assert.That(buffer.AsSpan(0, read).SequenceEqual(data.AsSpan((int)Math.Min(offset, data.Length), read)), $"offset {offset}");
        }
    }

    [Test]
    public async Task Empty_blob_has_the_empty_digest()
    {
        B3Digest digest = await PutBlobAsync(Store.Blobs, Array.Empty<byte>());
        Assert.That(digest, Is.EqualTo(B3Digest.Empty));
        Assert.That(await Store.Blobs.StatAsync(digest), Is.EqualTo(0));
        using BlobReader? reader = await Store.Blobs.OpenReadAsync(digest);
        Assert.That(await reader!.ReadAtAsync(0, new byte[10]), Is.EqualTo(0));
    }

    [Test]
    public async Task Absent_blob_is_null()
    {
        B3Digest digest = B3Digest.Compute("never stored"u8);
        Assert.That(await Store.Blobs.StatAsync(digest), Is.Null);
        Assert.That(await Store.Blobs.OpenReadAsync(digest), Is.Null);
    }

    [Test]
    public async Task Writer_disposed_without_close_stores_nothing()
    {
        byte[] data = Pattern(10_000, seed: 7);
        await using (BlobWriter writer = Store.Blobs.OpenWrite())
            await writer.WriteAsync(data);
        Assert.That(await Store.Blobs.StatAsync(B3Digest.Compute(data)), Is.Null);
        if (_store.Directory is not null)
            Assert.That(System.IO.Directory.EnumerateFiles(Path.Join(_store.Directory, "tmp")), Is.Empty);
    }

    [Test]
    public async Task Same_blob_twice_gives_the_same_digest()
    {
        byte[] data = Pattern(5000, seed: 3);
        Assert.That(await PutBlobAsync(Store.Blobs, data), Is.EqualTo(await PutBlobAsync(Store.Blobs, data, chunk: 7)));
    }

    // ---- directories ----

    [Test]
    public async Task Directory_put_then_get_returns_an_equal_message_under_its_canonical_digest()
    {
        var child = new Directory { Files = { FileEntry("inner") } };
        B3Digest childDigest = await Store.Directories.PutAsync(child);
        var parent = new Directory
        {
            Directories = { DirectoryEntry("d", child) },
            Files = { FileEntry("f", size: 42) },
            Symlinks = { SymlinkEntry("s", "/x") },
        };
        B3Digest digest = await Store.Directories.PutAsync(parent);

        Assert.That(childDigest, Is.EqualTo(DirectoryRules.Digest(child)));
        Assert.That(digest, Is.EqualTo(DirectoryRules.Digest(parent)));
        Assert.That((await Store.Directories.GetAsync(digest))?.Message, Is.EqualTo(parent));
        Assert.That(await Store.Directories.GetAsync(B3Digest.Compute("absent"u8)), Is.Null);
    }

    [Test]
    public async Task Empty_directory_has_the_documented_digest()
    {
        B3Digest digest = await Store.Directories.PutAsync(new Directory());
        Assert.That(digest.ToHex(), Is.EqualTo("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"));
        Assert.That((await Store.Directories.GetAsync(digest))?.Message, Is.EqualTo(new Directory()));
    }

    public static IEnumerable<TestCaseData> BadDirectories()
    {
        TestCaseData Case(string rule, Directory directory) => new TestCaseData(directory).SetArgDisplayNames(rule);
        yield return Case("files unsorted", new Directory { Files = { FileEntry("b"), FileEntry("a") } });
        yield return Case("symlinks unsorted", new Directory { Symlinks = { SymlinkEntry("b"), SymlinkEntry("a") } });
        yield return Case("duplicate in one list", new Directory { Files = { FileEntry("a"), FileEntry("a") } });
        yield return Case("duplicate across lists", new Directory { Files = { FileEntry("a") }, Symlinks = { SymlinkEntry("a") } });
        yield return Case("empty name", new Directory { Files = { FileEntry("") } });
        yield return Case("dot", new Directory { Files = { FileEntry(".") } });
        yield return Case("dotdot", new Directory { Symlinks = { SymlinkEntry("..") } });
        yield return Case("slash", new Directory { Files = { FileEntry("a/b") } });
        yield return Case("NUL", new Directory { Files = { FileEntry("a\0b") } });
        yield return Case("256-byte name", new Directory { Files = { FileEntry(new string('n', 256)) } });
        yield return Case("31-byte file digest", new Directory { Files = { FileEntry("a", digest: new byte[31]) } });
        yield return Case("33-byte directory digest", new Directory
        {
            Directories = { new DirectoryNode { Name = Bytes("d"), Digest = ByteString.CopyFrom(new byte[33]), Size = 0 } },
        });
        yield return Case("empty symlink target", new Directory { Symlinks = { SymlinkEntry("s", "") } });
        yield return Case("NUL in symlink target", new Directory { Symlinks = { SymlinkEntry("s", "a\0b") } });
        yield return Case("size overflow", new Directory
        {
            Directories =
            {
                new DirectoryNode { Name = Bytes("a"), Digest = B3Digest.Empty.ToByteString(), Size = ulong.MaxValue - 1 },
                new DirectoryNode { Name = Bytes("b"), Digest = B3Digest.Empty.ToByteString(), Size = 0 },
            },
        });
        yield return Case("child directory missing", new Directory
        {
            Directories = { DirectoryEntry("d", new Directory { Files = { FileEntry("never-put") } }) },
        });
    }

    [TestCaseSource(nameof(BadDirectories))]
    public async Task Directory_put_rejects_each_broken_rule(Directory directory)
    {
        await Assert.ThrowsAsync<StoreValidationException>(async () => await Store.Directories.PutAsync(directory));
        Assert.That(await Store.Directories.GetAsync(DirectoryRules.Digest(directory)), Is.Null);

        // The graph putter applies the same rules, at the message.
        await using IDirectoryPutter putter = Store.Directories.BeginPut();
        await Assert.ThrowsAsync<StoreValidationException>(async () => await putter.PutAsync(directory));
    }

    [Test]
    public async Task Directory_put_rejects_a_child_size_that_differs_from_the_stored_child()
    {
        var child = new Directory { Files = { FileEntry("x"), FileEntry("y") } };
        await Store.Directories.PutAsync(child);
        DirectoryNode node = DirectoryEntry("d", child);
        node.Size += 1;
        var parent = new Directory { Directories = { node } };

        var error = await Assert.ThrowsAsync<StoreValidationException>(async () => await Store.Directories.PutAsync(parent));
        Assert.That(error!.Message, Does.Contain("size"));
        Assert.That(await Store.Directories.GetAsync(DirectoryRules.Digest(parent)), Is.Null);
    }

    [Test]
    public async Task Graph_put_leaves_first_stores_everything_on_close()
    {
        var leaf = new Directory { Files = { FileEntry("f") } };
        var middle = new Directory { Directories = { DirectoryEntry("leaf", leaf) } };
        var root = new Directory { Directories = { DirectoryEntry("m", middle) }, Symlinks = { SymlinkEntry("z") } };

        await using IDirectoryPutter putter = Store.Directories.BeginPut();
        await putter.PutAsync(leaf);
        await putter.PutAsync(middle);
        await putter.PutAsync(root);
        Assert.That(await Store.Directories.GetAsync(DirectoryRules.Digest(leaf)), Is.Null, "nothing is stored before close");
        B3Digest rootDigest = await putter.CloseAsync();

        Assert.That(rootDigest, Is.EqualTo(DirectoryRules.Digest(root)));
        foreach (Directory directory in new[] { leaf, middle, root })
            Assert.That((await Store.Directories.GetAsync(DirectoryRules.Digest(directory)))?.Message, Is.EqualTo(directory));
    }

    [Test]
    public async Task Graph_put_rejects_a_child_not_sent_before_it()
    {
        var leaf = new Directory { Files = { FileEntry("f") } };
        var root = new Directory { Directories = { DirectoryEntry("leaf", leaf) } };

        await using IDirectoryPutter putter = Store.Directories.BeginPut();
        await Assert.ThrowsAsync<StoreValidationException>(async () => await putter.PutAsync(root));
        await putter.PutAsync(leaf);
        Assert.That(await Store.Directories.GetAsync(DirectoryRules.Digest(root)), Is.Null);
    }

    [Test]
    public async Task Graph_put_rejects_a_wrong_size_for_a_child_sent_earlier()
    {
        var leaf = new Directory { Files = { FileEntry("f") } };
        DirectoryNode node = DirectoryEntry("leaf", leaf);
        node.Size = 5;

        await using IDirectoryPutter putter = Store.Directories.BeginPut();
        await putter.PutAsync(leaf);
        await Assert.ThrowsAsync<StoreValidationException>(async () => await putter.PutAsync(new Directory { Directories = { node } }));
    }

    [Test]
    public async Task Graph_put_may_refer_to_an_already_stored_child()
    {
        var stored = new Directory { Files = { FileEntry("f") } };
        await Store.Directories.PutAsync(stored);
        var root = new Directory { Directories = { DirectoryEntry("old", stored) } };

        await using IDirectoryPutter putter = Store.Directories.BeginPut();
        await putter.PutAsync(root);
        Assert.That(await putter.CloseAsync(), Is.EqualTo(DirectoryRules.Digest(root)));
        Assert.That((await Store.Directories.GetAsync(DirectoryRules.Digest(root)))?.Message, Is.EqualTo(root));
    }

    [Test]
    public async Task Graph_put_with_a_message_the_root_does_not_reach_stores_nothing()
    {
        var stray = new Directory { Files = { FileEntry("stray") } };
        var root = new Directory { Files = { FileEntry("root") } };

        await using IDirectoryPutter putter = Store.Directories.BeginPut();
        await putter.PutAsync(stray);
        await putter.PutAsync(root);
        await Assert.ThrowsAsync<StoreValidationException>(async () => await putter.CloseAsync());
        Assert.That(await Store.Directories.GetAsync(DirectoryRules.Digest(stray)), Is.Null);
        Assert.That(await Store.Directories.GetAsync(DirectoryRules.Digest(root)), Is.Null);
    }

    [Test]
    public async Task Graph_put_never_closed_stores_nothing()
    {
        var leaf = new Directory { Files = { FileEntry("abandoned") } };
        await using (IDirectoryPutter putter = Store.Directories.BeginPut())
            await putter.PutAsync(leaf);
        Assert.That(await Store.Directories.GetAsync(DirectoryRules.Digest(leaf)), Is.Null);
    }

    [Test]
    public async Task Graph_put_of_nothing_is_rejected()
    {
        await using IDirectoryPutter putter = Store.Directories.BeginPut();
        await Assert.ThrowsAsync<StoreValidationException>(async () => await putter.CloseAsync());
    }

    [Test]
    public async Task Recursive_get_is_root_first_breadth_first_each_once()
    {
        var c = new Directory { Files = { FileEntry("c-file") } };
        var d = new Directory { Symlinks = { SymlinkEntry("d-link") } };
        var a = new Directory { Directories = { DirectoryEntry("c", c) } };
        var b = new Directory { Directories = { DirectoryEntry("c-again", c), DirectoryEntry("d", d) } };
        var root = new Directory { Directories = { DirectoryEntry("a", a), DirectoryEntry("b", b) } };
        await using (IDirectoryPutter putter = Store.Directories.BeginPut())
        {
            foreach (Directory directory in new[] { c, d, a, b, root })
                await putter.PutAsync(directory);
            await putter.CloseAsync();
        }

        var received = new List<Directory>();
        await foreach (VerifiedDirectory directory in Store.Directories.GetRecursiveAsync(DirectoryRules.Digest(root)))
            received.Add(directory.Message);

        Assert.That(received, Is.EqualTo(new[] { root, a, b, c, d }));
    }

    [Test]
    public async Task Recursive_get_of_a_missing_root_throws_not_found()
    {
        await Assert.ThrowsAsync<StoreNotFoundException>(async () =>
        {
            await foreach (VerifiedDirectory _ in Store.Directories.GetRecursiveAsync(B3Digest.Compute("missing"u8))) { }
        });
    }

    // ---- PathInfos ----

    private static PathInfo SamplePathInfo(string name = "hello-2.12")
    {
        string basename = NixStorePathBuilder.ForSource(new byte[32], name).Basename;
        return new PathInfo
        {
            Node = new Node { Symlink = new SymlinkNode { Name = Bytes(basename), Target = Bytes("/somewhere") } },
            References = { ByteString.CopyFrom(new byte[20]), ByteString.CopyFrom(Enumerable.Repeat((byte)7, 20).ToArray()) },
            Narinfo = new NARInfo
            {
                NarSize = 128,
                NarSha256 = ByteString.CopyFrom(new byte[32]),
                Signatures = { new NARInfo.Types.Signature { Name = "cache.example.org-1", Data = ByteString.CopyFrom(new byte[64]) } },
                ReferenceNames = { "a", "b" },
                Deriver = new TvixLowFs.Protos.Store.StorePath { Name = "hello.drv", Digest = ByteString.CopyFrom(new byte[20]) },
                Ca = new NARInfo.Types.CA { Type = NARInfo.Types.CA.Types.Hash.NarSha256, Digest = ByteString.CopyFrom(new byte[32]) },
            },
        };
    }

    private static StorePathHash HashOf(PathInfo pathInfo) => PathInfoRules.Validate(pathInfo).Hash;

    [Test]
    public async Task PathInfo_get_returns_exactly_what_was_put()
    {
        PathInfo pathInfo = SamplePathInfo();
        PathInfo stored = await Store.PathInfos.PutAsync(pathInfo);
        Assert.That(stored, Is.EqualTo(pathInfo));
        Assert.That(await Store.PathInfos.GetAsync(HashOf(pathInfo)), Is.EqualTo(pathInfo));
        Assert.That(await Store.PathInfos.GetAsync(StorePathHash.FromBytes(new byte[20])), Is.Null);
    }

    [Test]
    public async Task PathInfo_put_again_with_the_same_root_is_accepted_and_keeps_the_first()
    {
        PathInfo first = SamplePathInfo();
        PathInfo second = first.Clone();
        second.Narinfo.NarSize = 256;
        await Store.PathInfos.PutAsync(first);
        Assert.That(await Store.PathInfos.PutAsync(first.Clone()), Is.EqualTo(first));
        Assert.That(await Store.PathInfos.PutAsync(second), Is.EqualTo(first), "a put answers what is stored");
        Assert.That(await Store.PathInfos.GetAsync(HashOf(first)), Is.EqualTo(first));
    }

    [Test]
    public async Task PathInfo_put_with_another_root_node_is_refused_and_never_overwrites()
    {
        PathInfo first = SamplePathInfo();
        PathInfo other = first.Clone();
        other.Node.Symlink.Target = Bytes("/somewhere-else");
        await Store.PathInfos.PutAsync(first);
        var e = await Assert.ThrowsAsync<StorePathConflictException>(async () => await Store.PathInfos.PutAsync(other));
        Assert.That(e!.Message, Does.Contain(PathInfoRules.Validate(first).Basename).And.Contain("immutable"));
        Assert.That(await Store.PathInfos.GetAsync(HashOf(first)), Is.EqualTo(first));
    }

    public static IEnumerable<TestCaseData> BadPathInfos()
    {
        TestCaseData Case(string rule, Action<PathInfo> breakIt)
        {
            PathInfo pathInfo = SamplePathInfo();
            breakIt(pathInfo);
            return new TestCaseData(pathInfo).SetArgDisplayNames(rule);
        }
        yield return Case("no node", p => p.Node = null);
        yield return Case("name without hash", p => p.Node.Symlink.Name = Bytes("hello"));
        yield return Case("space in name", p => p.Node.Symlink.Name = Bytes(NixStorePathBuilder.ForSource(new byte[32], "x").Basename + " y"));
        yield return Case("bad node", p => p.Node.Symlink.Target = ByteString.Empty);
        yield return Case("19-byte reference", p => p.References.Add(ByteString.CopyFrom(new byte[19])));
        yield return Case("31-byte nar_sha256", p => p.Narinfo.NarSha256 = ByteString.CopyFrom(new byte[31]));
    }

    [TestCaseSource(nameof(BadPathInfos))]
    public async Task PathInfo_put_rejects_each_broken_rule(PathInfo pathInfo)
    {
        await Assert.ThrowsAsync<StoreValidationException>(async () => await Store.PathInfos.PutAsync(pathInfo));
        var listed = new List<PathInfo>();
        await foreach (PathInfo p in Store.PathInfos.ListAsync())
            listed.Add(p);
        Assert.That(listed, Is.Empty);
    }

    [Test]
    public async Task PathInfo_list_streams_every_one()
    {
        PathInfo[] all = [SamplePathInfo("a"), SamplePathInfo("b"), SamplePathInfo("c")];
        foreach (PathInfo pathInfo in all)
            await Store.PathInfos.PutAsync(pathInfo);
        var listed = new List<PathInfo>();
        await foreach (PathInfo pathInfo in Store.PathInfos.ListAsync())
            listed.Add(pathInfo);
        Assert.That(listed, Is.EquivalentTo(all));
    }

    // ---- NAR ----

    [Test]
    public async Task Nar_of_a_tree_matches_a_naive_serialisation()
    {
        TreeDirectory tree = Sample();
        Node root = await UploadAsync(Store, tree);
        NarHash nar = await Store.PathInfos.CalculateNarAsync(root);

        byte[] expected = NaiveNar.Of(tree);
        Assert.That(nar.NarSize, Is.EqualTo((ulong)expected.Length));
        Assert.That(Convert.ToHexStringLower(nar.NarSha256), Is.EqualTo(NaiveNar.Sha256Hex(expected)));
    }

    [TestCase("file")]
    [TestCase("executable")]
    [TestCase("empty-file")]
    [TestCase("symlink")]
    [TestCase("empty-directory")]
    public async Task Nar_of_a_single_node_matches_a_naive_serialisation(string what)
    {
        TreeNode tree = what switch
        {
            "file" => new TreeFile(Pattern(100_001)),
            "executable" => TreeFile.Text("#!/bin/sh\n", executable: true),
            "empty-file" => new TreeFile([]),
            "symlink" => new TreeSymlink("/nix/store/somewhereelse"),
            _ => TreeDirectory.Of(),
        };
        Node node = await UploadAsync(Store, tree, name: "ignored-name");
        NarHash nar = await Store.PathInfos.CalculateNarAsync(node);
        byte[] expected = NaiveNar.Of(tree);
        Assert.That((nar.NarSize, Convert.ToHexStringLower(nar.NarSha256)), Is.EqualTo(((ulong)expected.Length, NaiveNar.Sha256Hex(expected))));
    }

    [Test]
    public async Task Nar_of_a_file_whose_blob_is_missing_throws_not_found()
    {
        var node = new Node { File = new FileNode { Digest = B3Digest.Compute("absent"u8).ToByteString(), Size = 6 } };
        await Assert.ThrowsAsync<StoreNotFoundException>(async () => await Store.PathInfos.CalculateNarAsync(node));
    }

    // ---- concurrency ----

    [Test]
    public async Task Concurrent_writers_and_readers_agree()
    {
        byte[][] contents = Enumerable.Range(0, 10).Select(i => Pattern(20_000 + i * 997, seed: 100 + i)).ToArray();
        var written = new ConcurrentDictionary<B3Digest, byte[]>();
        var readerErrors = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();

        async Task WriterAsync(int id)
        {
            for (int round = 0; round < 15; round++)
            {
                byte[] data = contents[(id + round) % contents.Length];
                B3Digest digest = await PutBlobAsync(Store.Blobs, data, chunk: 4096);
                written[digest] = data;
                var directory = new Directory { Files = { new FileNode { Name = Bytes("f" + (round % 4)), Digest = digest.ToByteString(), Size = (ulong)data.Length } } };
                await Store.Directories.PutAsync(directory);
            }
        }

        async Task ReaderAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                foreach ((B3Digest digest, byte[] data) in written)
                {
                    using BlobReader? reader = await Store.Blobs.OpenReadAsync(digest);
                    if (reader is null)
                    {
                        readerErrors.Add($"{digest} vanished");
                        continue;
                    }
                    var buffer = new byte[data.Length];
                    int read = await reader.ReadAtAsync(0, buffer);
                    if (read != data.Length || !buffer.AsSpan().SequenceEqual(data))
                        readerErrors.Add($"{digest} read {read} bytes, different content");
                }
                await Task.Yield();
            }
        }

        Task[] readers = [Task.Run(ReaderAsync), Task.Run(ReaderAsync)];
        await Task.WhenAll(Enumerable.Range(0, 6).Select(id => Task.Run(() => WriterAsync(id))));
        stop.Cancel();
        await Task.WhenAll(readers);

        Assert.That(readerErrors, Is.Empty);
        Assert.That(written.Keys, Is.EquivalentTo(contents.Select(c => B3Digest.Compute(c))));
        if (_store.Directory is not null)
            Assert.That(System.IO.Directory.EnumerateFiles(Path.Join(_store.Directory, "tmp")), Is.Empty);
    }
}
