using System.Security.Cryptography;
using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store;
using TvixLowFs.Store.Import;
using TvixLowFs.Store.Memory;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Store;
using static TvixLowFs.Tests.BinaryCache.Nar.NarBytes;

namespace TvixLowFs.Tests.BinaryCache.Nar;

/// <summary>
/// Ingestion against real Nix: trees made on disk, dumped by <c>nix-store --dump</c>, ingested into
/// memory:// and local:// services, rendered back with the model's NarRenderer and compared byte for
/// byte; the NAR hash compared with <c>nix-hash</c>; the root Directory compared with what
/// <c>tvixlowfs import</c> (PathImporter) stores for the same tree.
/// </summary>
[TestFixture]
[CancelAfter(180_000)]
public sealed class NarIngesterTests
{
    private string _work = "";

    [SetUp]
    public void SetUp()
    {
        _work = Path.Combine(Path.GetTempPath(), "tvixlowfs-nar-ingest-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(_work);
    }

    // .NET cannot name the entries that are not UTF-8, so the shell removes the tree.
    [TearDown]
    public async Task TearDown() => await NixTools.ShellAsync($"rm -rf '{_work}'");

    /// <summary>
    /// Files, an executable, an empty file and an empty executable, symlinks (relative, absolute,
    /// dangling, with an odd target), an empty directory, nested directories, a 3 MB file, and names
    /// with spaces, a newline, a control byte, a backslash, UTF-8 and capitals (which sort first).
    /// With <paramref name="notUtf8"/>, also a directory and a symlink target that are not UTF-8 at all.
    /// </summary>
    private static async Task<string> MakeTreeAsync(string parent, string name, bool notUtf8)
    {
        string root = Path.Join(parent, name);
        string odd = notUtf8
            ? """
              mkdir "$d"/$'\xff\xfe-not-utf8'
              printf 'q' > "$d"/$'\xff\xfe-not-utf8'/inside
              ln -s $'target\xffodd' "$d"/odd-target
              """
            : "";
        await NixTools.ShellAsync($"""
            d='{root}'
            mkdir -p "$d"/bin "$d"/empty-dir "$d"/nested/deeper/deepest
            printf 'hello\n' > "$d"/a-file
            printf '#!/bin/sh\necho hi\n' > "$d"/bin/tool; chmod 755 "$d"/bin/tool
            ln -s tool "$d"/bin/link-to-tool
            : > "$d"/empty-file
            : > "$d"/empty-exec; chmod 755 "$d"/empty-exec
            ln -s /nix/store/somewhereelse "$d"/dangling
            head -c 3000001 /dev/urandom > "$d"/nested/deeper/big
            printf 'hello\n' > "$d"/nested/deeper/same-as-a-file
            printf 'deep' > "$d"/nested/deeper/deepest/file
            printf 'x' > "$d"/'with space'
            printf 'y' > "$d"/$'new\nline'
            printf 'z' > "$d"/$'\x01ctrl'
            printf 'u' > "$d"/'ünïcödé'
            printf 'b' > "$d"/'back\slash'
            printf 'Z' > "$d"/Zebra
            {odd}
            """);
        return root;
    }

    private static async Task<NarIngestResult> IngestAsync(IBlobService blobs, IDirectoryService directories, Stream nar, ulong maxNarSize) =>
        await new NarIngester(blobs, directories).IngestAsync(nar, maxNarSize);

    private static async Task AssertRoundTripAsync(byte[] nar, string path, IBlobService blobs, IDirectoryService directories, Stream? source = null)
    {
        NarIngestResult result = await IngestAsync(blobs, directories, source ?? new MemoryStream(nar), (ulong)nar.Length);
        Assert.That(NodeName(result.Root), Is.Empty, "the root node has an empty name");
        Assert.That(result.NarSize, Is.EqualTo((ulong)nar.Length));
        Assert.That(result.NarSha256, Is.EqualTo(SHA256.HashData(nar)));
        Assert.That(NixBase32.Encode(result.NarSha256), Is.EqualTo(await NixTools.HashBase32Async(path)), "nix-hash agrees");
        byte[] rendered = await StoredNar.RenderAsync(blobs, directories, result.Root);
        Assert.That(rendered, Is.EqualTo(nar), "the stored tree renders back to Nix's NAR byte for byte");
    }

    private static ByteString NodeName(Node node) => node.NodeCase switch
    {
        Node.NodeOneofCase.Directory => node.Directory.Name,
        Node.NodeOneofCase.File => node.File.Name,
        _ => node.Symlink.Name,
    };

    [Test]
    public async Task RealNixTreeRoundTripsThroughMemoryServices()
    {
        string tree = await MakeTreeAsync(_work, "tree", notUtf8: true);
        byte[] nar = await NixTools.DumpAsync(tree);
        await AssertRoundTripAsync(nar, tree, new MemoryBlobService(), new MemoryDirectoryService());
    }

    [Test]
    public async Task RealNixTreeRoundTripsThroughALocalStore()
    {
        string tree = await MakeTreeAsync(_work, "tree", notUtf8: true);
        byte[] nar = await NixTools.DumpAsync(tree);
        await using TemporaryLocalStore local = TemporaryLocalStore.Create("nar-ingest");
        await AssertRoundTripAsync(nar, tree, local.Store.Blobs, local.Store.Directories);
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Join(local.Directory, "tmp")), Is.Empty, "no temp file is left");
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Join(local.Directory, "pathinfos")), Is.Empty, "ingestion registers no PathInfo");

        // A second ingest of the same NAR finds everything stored and gives the same root.
        NarIngestResult again = await IngestAsync(local.Store.Blobs, local.Store.Directories, new MemoryStream(nar), (ulong)nar.Length);
        NarIngestResult fresh = await IngestAsync(new MemoryBlobService(), new MemoryDirectoryService(), new MemoryStream(nar), (ulong)nar.Length);
        Assert.That(again.Root, Is.EqualTo(fresh.Root));
    }

    [Test]
    public async Task RealNixTreeRoundTripsFromATricklingAsynchronousStream()
    {
        string tree = await MakeTreeAsync(_work, "tree", notUtf8: true);
        byte[] nar = await NixTools.DumpAsync(tree);
        await AssertRoundTripAsync(nar, tree, new MemoryBlobService(), new MemoryDirectoryService(),
            new TricklingStream(nar, maxChunk: 700, yieldEachRead: true));
    }

    [Test]
    public async Task RootDirectoryIsTheOneImportMakes()
    {
        string tree = await MakeTreeAsync(_work, "imported", notUtf8: false);
        byte[] nar = await NixTools.DumpAsync(tree);
        NarIngestResult ingested = await IngestAsync(new MemoryBlobService(), new MemoryDirectoryService(), new MemoryStream(nar), (ulong)nar.Length);

        await using StoreServices store = new StoreOpener().Open(StoreAddress.Memory);
        PreparedImport imported = await new PathImporter(store).PrepareAsync(ImportPlan.Create(tree));
        DirectoryNode importedRoot = imported.PathInfo.Node.Directory;
        Assert.That(ingested.Root.Directory.Digest, Is.EqualTo(importedRoot.Digest), "the same canonical root Directory");
        Assert.That(ingested.Root.Directory.Size, Is.EqualTo(importedRoot.Size));
        Assert.That(ingested.NarSha256, Is.EqualTo(imported.PathInfo.Narinfo.NarSha256.ToByteArray()));
        Assert.That(ingested.NarSize, Is.EqualTo(imported.PathInfo.Narinfo.NarSize));
    }

    [Test]
    public async Task RootFileAndRootSymlink()
    {
        string file = Path.Join(_work, "script");
        await System.IO.File.WriteAllTextAsync(file, "#!/bin/sh\nexit 0\n");
        System.IO.File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string link = Path.Join(_work, "link");
        System.IO.File.CreateSymbolicLink(link, "/nix/store/somewhere/else");
        string empty = Path.Join(_work, "empty");
        await System.IO.File.WriteAllBytesAsync(empty, []);

        foreach (string path in new[] { file, link, empty })
        {
            byte[] nar = await NixTools.DumpAsync(path);
            var blobs = new MemoryBlobService();
            await AssertRoundTripAsync(nar, path, blobs, new MemoryDirectoryService());
        }
        byte[] scriptNar = await NixTools.DumpAsync(file);
        NarIngestResult script = await IngestAsync(new MemoryBlobService(), new MemoryDirectoryService(), new MemoryStream(scriptNar), (ulong)scriptNar.Length);
        Assert.That(script.Root.File.Executable, Is.True);
        Assert.That(script.Root.File.Size, Is.EqualTo(17UL));
        Assert.That(B3Digest.FromByteString(script.Root.File.Digest), Is.EqualTo(B3Digest.Compute("#!/bin/sh\nexit 0\n"u8)));
        byte[] linkNar = await NixTools.DumpAsync(link);
        NarIngestResult symlink = await IngestAsync(new MemoryBlobService(), new MemoryDirectoryService(), new MemoryStream(linkNar), (ulong)linkNar.Length);
        Assert.That(symlink.Root.Symlink.Target.ToStringUtf8(), Is.EqualTo("/nix/store/somewhere/else"));
    }

    [Test]
    public async Task NarWriterSampleRoundTrips()
    {
        // The Store tests' sample tree through the independent NaiveNar serialiser.
        byte[] nar = NaiveNar.Of(TestTrees.Sample());
        var blobs = new MemoryBlobService();
        var directories = new MemoryDirectoryService();
        NarIngestResult result = await IngestAsync(blobs, directories, new MemoryStream(nar), (ulong)nar.Length);
        Assert.That(await StoredNar.RenderAsync(blobs, directories, result.Root), Is.EqualTo(nar));
        Assert.That(result.NarSha256, Is.EqualTo(SHA256.HashData(nar)));
        // What the Store tests' uploader makes of the same tree is the same root.
        await using StoreServices store = new StoreOpener().Open(StoreAddress.Memory);
        Node uploaded = await TestTrees.UploadAsync(store, TestTrees.Sample());
        Assert.That(result.Root, Is.EqualTo(uploaded));
    }

    [Test]
    public async Task IdenticalSubtreesAreStoredOnce()
    {
        object[] subtree = DirectoryOf(EntryOf("f", FileOf("same")), EntryOf("l", SymlinkOf("f")));
        byte[] nar = Archive(DirectoryOf(EntryOf("one", subtree), EntryOf("two", subtree)));
        var blobs = new MemoryBlobService();
        var directories = new MemoryDirectoryService();
        NarIngestResult result = await IngestAsync(blobs, directories, new MemoryStream(nar), (ulong)nar.Length);
        TvixLowFs.Protos.Castore.Directory root = (await directories.GetAsync(B3Digest.FromByteString(result.Root.Directory.Digest)))!.Message;
        Assert.That(root.Directories[0].Digest, Is.EqualTo(root.Directories[1].Digest));
        Assert.That(result.Root.Directory.Size, Is.EqualTo(6UL));
        Assert.That(await StoredNar.RenderAsync(blobs, directories, result.Root), Is.EqualTo(nar));
    }

    [Test]
    public async Task ManySmallFilesInALocalStore()
    {
        // More files than closes may run at once, over several directories, so closes overlap
        // directory boundaries and the bound is exercised.
        var entries = new List<object[]>();
        for (int d = 0; d < 8; d++)
            entries.Add(EntryOf($"dir{d}", DirectoryOf(Enumerable.Range(0, 40).Select(i => EntryOf($"f{i:D2}", FileOf($"{d}/{i}", executable: i % 7 == 0))).ToArray())));
        byte[] nar = Archive(DirectoryOf([.. entries]));
        await using TemporaryLocalStore local = TemporaryLocalStore.Create("nar-many");
        NarIngestResult result = await IngestAsync(local.Store.Blobs, local.Store.Directories, new MemoryStream(nar), (ulong)nar.Length);
        Assert.That(await StoredNar.RenderAsync(local.Store.Blobs, local.Store.Directories, result.Root), Is.EqualTo(nar));
        Assert.That(result.Root.Directory.Size, Is.EqualTo(8UL + 8 * 40));
    }

    [Test]
    public void CancellationIsHonoured()
    {
        byte[] nar = Archive(DirectoryOf(EntryOf("a", FileOf("x"))));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var ingester = new NarIngester(new MemoryBlobService(), new MemoryDirectoryService());
        Assert.That(async () => await ingester.IngestAsync(new TricklingStream(nar, 5, yieldEachRead: true), 4096, cancelled.Token),
            Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public void CancellationDuringALongIngest()
    {
        byte[] nar = Archive(DirectoryOf(Enumerable.Range(0, 20_000).Select(i => EntryOf($"f{i:D5}", FileOf("x"))).ToArray()));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        var ingester = new NarIngester(new MemoryBlobService(), new MemoryDirectoryService());
        Assert.That(async () => await ingester.IngestAsync(new TricklingStream(nar, 64, yieldEachRead: true), (ulong)nar.Length, cancel.Token),
            Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task ReaderEventsNameEveryEntry()
    {
        byte[] nar = Archive(DirectoryOf(
            EntryOf("bin", DirectoryOf(EntryOf("sh", FileOf("#!", executable: true)))),
            EntryOf("lib", SymlinkOf("bin"))));
        using var reader = new NarReader(new MemoryStream(nar), (ulong)nar.Length);
        var seen = new List<string>();
        while (true)
        {
            NarEvent next = await reader.ReadAsync();
            seen.Add(next switch
            {
                NarEvent.Directory => $"dir {System.Text.Encoding.UTF8.GetString(reader.Name)} {reader.Depth}",
                NarEvent.File => $"file {System.Text.Encoding.UTF8.GetString(reader.Name)} {reader.FileSize} {reader.Executable}",
                NarEvent.Symlink => $"symlink {System.Text.Encoding.UTF8.GetString(reader.Name)} -> {System.Text.Encoding.UTF8.GetString(reader.Target)}",
                NarEvent.EndDirectory => $"end {reader.Depth}",
                _ => "end of archive",
            });
            if (next == NarEvent.End)
                break;
        }
        Assert.That(seen, Is.EqualTo(new[]
        {
            "dir  1", "dir bin 2", "file sh 2 True", "end 1", "symlink lib -> bin", "end 0", "end of archive",
        }));
        Assert.That(reader.NarSize, Is.EqualTo((ulong)nar.Length));
        Assert.That(await reader.ReadAsync(), Is.EqualTo(NarEvent.End));
    }
}
