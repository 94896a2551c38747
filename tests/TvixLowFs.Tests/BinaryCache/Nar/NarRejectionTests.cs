using NUnit.Framework;
using TvixLowFs.Store.Memory;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;
using TvixLowFs.Tests.Filesystem;
using static TvixLowFs.Tests.BinaryCache.Nar.NarBytes;

namespace TvixLowFs.Tests.BinaryCache.Nar;

/// <summary>
/// Every rule the NAR reader enforces, one broken archive each, ingested into a real local store:
/// the exact message (what and at which byte) and that nothing but content-addressed blobs was
/// written (no directory, no PathInfo, no temp file left behind).
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class NarRejectionTests
{
    // magic (24) + "(" "type" (32) + "directory" (24): where a root directory's first entry starts.
    private const int FirstEntry = 80;
    // "entry" "(" "name": where an entry's name starts, from the entry.
    private const int NameInEntry = 48;

    private static async Task<string> RejectAsync(byte[] nar, ulong? maxNarSize = null)
    {
        await using TemporaryLocalStore local = TemporaryLocalStore.Create("nar-reject");
        var ingester = new NarIngester(local.Store.Blobs, local.Store.Directories);
        var error = await Assert.ThrowsAsync<InvalidNarException>(
            () => ingester.IngestAsync(new MemoryStream(nar), maxNarSize ?? (ulong)nar.Length));
        Assert.That(FilesUnder(local.Directory, "directories"), Is.Empty, "no directory may be stored");
        Assert.That(FilesUnder(local.Directory, "pathinfos"), Is.Empty, "no PathInfo is involved");
        Assert.That(FilesUnder(local.Directory, "tmp"), Is.Empty, "no temp file may be left");
        return error!.Message;
    }

    private static string[] FilesUnder(string store, string folder) =>
        System.IO.Directory.EnumerateFiles(Path.Join(store, folder), "*", SearchOption.AllDirectories).ToArray();

    private static int SizeOf(params object[] parts) => Of(parts).Length;

    [Test]
    public async Task BadMagic()
    {
        string message = await RejectAsync(Of(["nix-archive-2", .. FileOf("x")]));
        Assert.That(message, Is.EqualTo("invalid NAR: the stream does not start with the magic 'nix-archive-1' at byte 0"));
    }

    [Test]
    public async Task EmptyStream() =>
        Assert.That(await RejectAsync([], maxNarSize: 1000), Is.EqualTo("invalid NAR: the stream ends before the archive does at byte 0"));

    [Test]
    public async Task NonZeroPaddingAfterAName()
    {
        byte[] badName = [.. Length(1).Bytes, (byte)'a', 0, 0, 0, 1, 0, 0, 0];
        string message = await RejectAsync(Archive(DirectoryOf(EntryOf(new Raw(badName), FileOf("x")))));
        Assert.That(message, Is.EqualTo($"invalid NAR: non-zero padding after an entry name at byte {FirstEntry + NameInEntry + 9}"));
    }

    [Test]
    public async Task NonZeroPaddingAfterFileContents()
    {
        // "(" "type" "regular" "contents", then 3 bytes of contents with padding 0 0 0 0 7.
        byte[] nar = [.. Of("nix-archive-1", "(", "type", "regular", "contents"), .. Length(3).Bytes, (byte)'a', (byte)'b', (byte)'c', 0, 0, 0, 0, 7, .. Of(")")];
        string message = await RejectAsync(nar);
        Assert.That(message, Is.EqualTo($"invalid NAR: non-zero padding after the file contents at byte {SizeOf("nix-archive-1", "(", "type", "regular", "contents") + 8 + 3}"));
    }

    [Test]
    public async Task NonZeroPaddingAfterAToken()
    {
        byte[] nar = [.. Of("nix-archive-1"), .. Length(1).Bytes, (byte)'(', 0, 0, 0, 0, 0, 0, 0xff, .. Of(["type", .. FileOf("x")[2..]])];
        Assert.That(await RejectAsync(nar), Is.EqualTo("invalid NAR: non-zero padding after a token at byte 33"));
    }

    [Test]
    public async Task NamesOutOfOrder()
    {
        int second = FirstEntry + SizeOf(EntryOf("b", FileOf("1"))) + NameInEntry;
        string message = await RejectAsync(Archive(DirectoryOf(EntryOf("b", FileOf("1")), EntryOf("a", FileOf("2")))));
        Assert.That(message, Is.EqualTo($"invalid NAR: entry names out of order (\"a\" after \"b\") at byte {second}"));
    }

    [Test]
    public async Task NamesOutOfOrderBytewise()
    {
        // Bytewise order: "Z" (0x5a) sorts before "a" (0x61), and 0xc3 after both; a case-insensitive or UTF-16 order would differ.
        string message = await RejectAsync(Archive(DirectoryOf(EntryOf("a", FileOf("1")), EntryOf("Z", FileOf("2")))));
        Assert.That(message, Does.StartWith("invalid NAR: entry names out of order (\"Z\" after \"a\")"));
        Assert.That(message, Does.EndWith($"at byte {FirstEntry + SizeOf(EntryOf("a", FileOf("1"))) + NameInEntry}"));
    }

    [Test]
    public async Task DuplicateNames()
    {
        int second = FirstEntry + SizeOf(EntryOf("a", FileOf("1"))) + NameInEntry;
        string message = await RejectAsync(Archive(DirectoryOf(EntryOf("a", FileOf("1")), EntryOf("a", SymlinkOf("x")))));
        Assert.That(message, Is.EqualTo($"invalid NAR: duplicate entry name \"a\" at byte {second}"));
    }

    [TestCase(".", "the name is \\\".\\\" or \\\"..\\\"")]
    [TestCase("..", "the name is \\\".\\\" or \\\"..\\\"")]
    [TestCase("a/b", "the name contains '/'")]
    [TestCase("a\0b", "the name contains a NUL byte")]
    [TestCase("", "the name is empty")]
    public async Task InvalidNames(string name, string problem)
    {
        string message = await RejectAsync(Archive(DirectoryOf(EntryOf(name, FileOf("x")))));
        Assert.That(message, Does.StartWith("invalid NAR: invalid entry name "));
        Assert.That(message, Does.Contain($"({problem.Replace("\\\"", "\"", StringComparison.Ordinal)})"));
        Assert.That(message, Does.EndWith($"at byte {FirstEntry + NameInEntry}"));
    }

    [Test]
    public async Task NameLongerThan255Bytes()
    {
        string message = await RejectAsync(Archive(DirectoryOf(EntryOf(new string('n', 256), FileOf("x")))));
        Assert.That(message, Is.EqualTo($"invalid NAR: an entry name of 256 bytes (at most 255 are allowed) at byte {FirstEntry + NameInEntry}"));
    }

    [Test]
    public async Task NameOf255BytesIsAccepted()
    {
        var memory = new MemoryBlobService();
        var ingester = new NarIngester(memory, new MemoryDirectoryService());
        byte[] nar = Archive(DirectoryOf(EntryOf(new string('n', 255), FileOf("x"))));
        NarIngestResult result = await ingester.IngestAsync(new MemoryStream(nar), (ulong)nar.Length);
        Assert.That(result.NarSize, Is.EqualTo((ulong)nar.Length));
    }

    [Test]
    public async Task EmptySymlinkTarget()
    {
        int target = FirstEntry + SizeOf("entry", "(", "name", "l", "node", "(", "type", "symlink", "target");
        string message = await RejectAsync(Archive(DirectoryOf(EntryOf("l", SymlinkOf("")))));
        Assert.That(message, Is.EqualTo($"invalid NAR: an empty symlink target at byte {target}"));
    }

    [Test]
    public async Task SymlinkTargetWithNul()
    {
        string message = await RejectAsync(Archive(SymlinkOf("a\0b")));
        Assert.That(message, Is.EqualTo($"invalid NAR: the symlink target \"a\\x00b\" contains NUL at byte {SizeOf("nix-archive-1", "(", "type", "symlink", "target")}"));
    }

    [Test]
    public async Task SymlinkTargetLongerThan4095Bytes()
    {
        string message = await RejectAsync(Archive(SymlinkOf(new string('t', 4096))));
        Assert.That(message, Is.EqualTo($"invalid NAR: a symlink target of 4096 bytes (at most 4095 are allowed) at byte {SizeOf("nix-archive-1", "(", "type", "symlink", "target")}"));
    }

    [Test]
    public async Task TrailingBytes()
    {
        byte[] valid = Archive(FileOf("hello"));
        string message = await RejectAsync([.. valid, 0, 0, 0, 0, 0, 0, 0, 0], maxNarSize: 1 << 20);
        Assert.That(message, Is.EqualTo($"invalid NAR: trailing bytes after the end of the archive at byte {valid.Length}"));
    }

    [Test]
    public async Task OneTrailingByteAfterAnArchiveOfExactlyNarSize()
    {
        byte[] valid = Archive(DirectoryOf(EntryOf("a", FileOf("hello"))));
        string message = await RejectAsync([.. valid, 1], maxNarSize: (ulong)valid.Length);
        Assert.That(message, Is.EqualTo($"invalid NAR: trailing bytes after the end of the archive at byte {valid.Length}"));
    }

    [Test]
    public async Task EveryTruncationIsRejected()
    {
        byte[] valid = Archive(DirectoryOf(
            EntryOf("a", FileOf("contents of a", executable: true)),
            EntryOf("d", DirectoryOf(EntryOf("e", SymlinkOf("../a")))),
            EntryOf("f", FileOf(""))));
        var memory = new MemoryBlobService();
        var ingester = new NarIngester(memory, new MemoryDirectoryService());
        for (int length = 0; length < valid.Length; length++)
        {
            var error = await Assert.ThrowsAsync<InvalidNarException>(
                () => ingester.IngestAsync(new MemoryStream(valid[..length]), (ulong)valid.Length), $"prefix of {length} bytes");
            Assert.That(error!.Message, Is.EqualTo($"invalid NAR: the stream ends before the archive does at byte {length}"));
        }
        await ingester.IngestAsync(new MemoryStream(valid), (ulong)valid.Length);
        // And once against the local store.
        Assert.That(await RejectAsync(valid[..(valid.Length - 8)], maxNarSize: (ulong)valid.Length),
            Is.EqualTo($"invalid NAR: the stream ends before the archive does at byte {valid.Length - 8}"));
    }

    [Test]
    public async Task ALargeFileCutShort()
    {
        // Large enough to be copied while the next chunk is read; cut in the middle of its contents.
        byte[] contents = new byte[5 << 20];
        new Random(7).NextBytes(contents);
        byte[] header = Of("nix-archive-1", "(", "type", "directory", "entry", "(", "name", "big", "node", "(", "type", "regular", "contents");
        byte[] nar = [.. header, .. Length((ulong)contents.Length).Bytes, .. contents, .. Of(")", ")", ")")];
        int cut = header.Length + 8 + (3 << 20) + 5;
        Assert.That(await RejectAsync(nar[..cut], maxNarSize: (ulong)nar.Length),
            Is.EqualTo($"invalid NAR: the stream ends before the archive does at byte {cut}"));
    }

    [Test]
    public async Task LongerThanNarSize()
    {
        byte[] valid = Archive(DirectoryOf(EntryOf("a", FileOf("hello")), EntryOf("b", SymlinkOf("a"))));
        string message = await RejectAsync(valid, maxNarSize: (ulong)valid.Length - 1);
        Assert.That(message, Is.EqualTo($"invalid NAR: the NAR is longer than NarSize {valid.Length - 1} at byte {valid.Length - 1}"));
    }

    [Test]
    public async Task ExactlyNarSizeIsAccepted()
    {
        byte[] valid = Archive(DirectoryOf(EntryOf("a", FileOf("hello")), EntryOf("b", SymlinkOf("a"))));
        var ingester = new NarIngester(new MemoryBlobService(), new MemoryDirectoryService());
        NarIngestResult result = await ingester.IngestAsync(new MemoryStream(valid), (ulong)valid.Length);
        Assert.That(result.NarSize, Is.EqualTo((ulong)valid.Length));
        Assert.That(result.NarSha256, Is.EqualTo(System.Security.Cryptography.SHA256.HashData(valid)));
    }

    [Test]
    public async Task AFileLargerThanNarSizeFailsAtItsHeaderWithoutReadingOn()
    {
        // A 64 MiB file in a NAR said to be 4 KiB: refused at the length word, having read at most 4 KiB + 1.
        byte[] header = Of("nix-archive-1", "(", "type", "regular", "contents");
        byte[] nar = [.. header, .. Length(64 << 20).Bytes, .. new byte[64 << 20], .. Of(")")];
        var stream = new TricklingStream(nar, maxChunk: 1 << 20);
        var ingester = new NarIngester(new MemoryBlobService(), new MemoryDirectoryService());
        var error = await Assert.ThrowsAsync<InvalidNarException>(() => ingester.IngestAsync(stream, 4096));
        Assert.That(error!.Message, Is.EqualTo($"invalid NAR: the NAR is longer than NarSize 4096 at byte {header.Length + 8}"));
        Assert.That(stream.BytesRead, Is.LessThanOrEqualTo(4097));
        Assert.That(await RejectAsync(nar, maxNarSize: 4096), Does.StartWith("invalid NAR: the NAR is longer than NarSize 4096"));
    }

    [Test]
    public async Task AStreamGoingOnPastNarSizeIsReadNoFurther()
    {
        // A directory of 100,000 entries (about 13 MB) against a NarSize of 1 MiB.
        byte[] nar = Archive(DirectoryOf(Enumerable.Range(0, 100_000).Select(i => EntryOf($"f{i:D6}", FileOf("x"))).ToArray()));
        var stream = new TricklingStream(nar, maxChunk: 300_000);
        var ingester = new NarIngester(new MemoryBlobService(), new MemoryDirectoryService());
        var error = await Assert.ThrowsAsync<InvalidNarException>(() => ingester.IngestAsync(stream, 1 << 20));
        Assert.That(error!.Message, Does.StartWith("invalid NAR: the NAR is longer than NarSize 1048576 at byte "));
        Assert.That(stream.BytesRead, Is.LessThanOrEqualTo((1 << 20) + 1));
    }

    [Test]
    public async Task HostileNameLength()
    {
        byte[] nar = [.. Of("nix-archive-1", "(", "type", "directory", "entry", "(", "name"), .. Length(1UL << 62).Bytes, .. new byte[64]];
        long before = GC.GetTotalAllocatedBytes(precise: true);
        string message = await RejectAsync(nar, maxNarSize: ulong.MaxValue);
        Assert.That(message, Is.EqualTo($"invalid NAR: an entry name of {1UL << 62} bytes (at most 255 are allowed) at byte {FirstEntry + NameInEntry}"));
        Assert.That(GC.GetTotalAllocatedBytes(precise: true) - before, Is.LessThan(16 << 20), "a hostile length must not cause a large allocation");
    }

    [Test]
    public async Task HostileTokenLength()
    {
        byte[] nar = [.. Of("nix-archive-1", "("), .. Length(ulong.MaxValue).Bytes, .. new byte[64]];
        Assert.That(await RejectAsync(nar, maxNarSize: ulong.MaxValue),
            Is.EqualTo($"invalid NAR: expected 'type', got a string of {ulong.MaxValue} bytes at byte 40"));
    }

    [Test]
    public async Task HostileTargetLength()
    {
        byte[] nar = [.. Of("nix-archive-1", "(", "type", "symlink", "target"), .. Length(1UL << 40).Bytes, .. new byte[64]];
        Assert.That(await RejectAsync(nar, maxNarSize: ulong.MaxValue),
            Is.EqualTo($"invalid NAR: a symlink target of {1UL << 40} bytes (at most 4095 are allowed) at byte {SizeOf("nix-archive-1", "(", "type", "symlink", "target")}"));
    }

    [Test]
    public async Task HostileFileSize()
    {
        byte[] header = Of("nix-archive-1", "(", "type", "regular", "contents");
        byte[] nar = [.. header, .. Length(1UL << 63).Bytes, .. new byte[64]];
        Assert.That(await RejectAsync(nar, maxNarSize: ulong.MaxValue),
            Is.EqualTo($"invalid NAR: a file of {1UL << 63} bytes (at most {long.MaxValue} are allowed) at byte {header.Length}"));
    }

    [Test]
    public async Task TooDeep()
    {
        // 2,049 directories inside each other; the 2,049th "directory" type token is refused.
        object[] node = DirectoryOf();
        for (int i = 1; i < NarReader.MaxDepth + 1; i++)
            node = DirectoryOf(EntryOf("d", node));
        byte[] nar = Archive(node);
        int typeOfDeepest = 24 + NarReader.MaxDepth * SizeOf(["(", "type", "directory", "entry", "(", "name", "d", "node"]) + SizeOf("(", "type");
        Assert.That(await RejectAsync(nar),
            Is.EqualTo($"invalid NAR: directories nested more than {NarReader.MaxDepth} deep at byte {typeOfDeepest}"));
    }

    [Test]
    public async Task AsDeepAsAllowedIsAccepted()
    {
        object[] node = DirectoryOf(EntryOf("f", FileOf("deep")));
        for (int i = 1; i < NarReader.MaxDepth; i++)
            node = DirectoryOf(EntryOf("d", node));
        byte[] nar = Archive(node);
        var blobs = new MemoryBlobService();
        var directories = new MemoryDirectoryService();
        NarIngestResult result = await new NarIngester(blobs, directories).IngestAsync(new MemoryStream(nar), (ulong)nar.Length);
        Assert.That(result.Root.Directory.Size, Is.EqualTo((ulong)NarReader.MaxDepth));
        Assert.That(await StoredNar.RenderAsync(blobs, directories, result.Root), Is.EqualTo(nar));
    }

    [Test]
    public async Task NonEmptyExecutableMarker()
    {
        string message = await RejectAsync(Of("nix-archive-1", "(", "type", "regular", "executable", "yes", "contents", "x", ")"));
        Assert.That(message, Is.EqualTo($"invalid NAR: the executable marker has a non-empty value at byte {SizeOf("nix-archive-1", "(", "type", "regular", "executable")}"));
    }

    [Test]
    public async Task UnknownNodeType()
    {
        string message = await RejectAsync(Of("nix-archive-1", "(", "type", "fifo", ")"));
        Assert.That(message, Is.EqualTo("invalid NAR: expected a node type ('regular', 'symlink' or 'directory'), got \"fifo\" at byte 56"));
    }

    [TestCase(new[] { "nix-archive-1", "(", "type", "directory", "entries", ")" }, "'entry' or ')'", "\"entries\"", 80)]
    [TestCase(new[] { "nix-archive-1", "(", "kind", "regular" }, "'type'", "\"kind\"", 40)]
    [TestCase(new[] { "nix-archive-1", "(", "type", "regular", "executable", "", "executable" }, "'contents'", "\"executable\"", 104)]
    [TestCase(new[] { "nix-archive-1", "(", "type", "regular", "content" }, "'executable' or 'contents'", "\"content\"", 72)]
    [TestCase(new[] { "nix-archive-1", "(", "type", "symlink", "link" }, "'target'", "\"link\"", 72)]
    [TestCase(new[] { "nix-archive-1", "[", "type" }, "'(' opening a node", "\"[\"", 24)]
    [TestCase(new[] { "nix-archive-1", "(", "type", "directory", "entry", "name" }, "'(' opening the entry", "\"name\"", 96)]
    [TestCase(new[] { "nix-archive-1", "(", "type", "symlink", "target", "x", "(" }, "')' closing the symlink", "\"(\"", 104)]
    public async Task GrammarIsExact(string[] tokens, string expected, string got, int at) =>
        Assert.That(await RejectAsync([.. Of(tokens), .. new byte[64]], maxNarSize: 4096),
            Is.EqualTo($"invalid NAR: expected {expected}, got {got} at byte {at}"));

    [Test]
    public async Task EntryNotClosed()
    {
        byte[] nar = Of(["nix-archive-1", "(", "type", "directory", "entry", "(", "name", "a", "node", .. FileOf("x"), "entry"]);
        int at = SizeOf(["nix-archive-1", "(", "type", "directory", "entry", "(", "name", "a", "node", .. FileOf("x")]);
        Assert.That(await RejectAsync([.. nar, .. new byte[64]], maxNarSize: 4096),
            Is.EqualTo($"invalid NAR: expected ')' closing the entry, got \"entry\" at byte {at}"));
    }
}
