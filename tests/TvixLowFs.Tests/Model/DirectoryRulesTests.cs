using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Model;

[TestFixture]
public sealed class DirectoryRulesTests
{
    internal static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);
    internal static ByteString Bytes(params byte[] bytes) => ByteString.CopyFrom(bytes);
    internal static ByteString Digest(byte fill, int length = 32) => ByteString.CopyFrom(Enumerable.Repeat(fill, length).ToArray());

    internal static DirectoryNode Dir(string name, ulong size = 0) => new() { Name = Bytes(name), Digest = Digest(0xD1), Size = size };
    internal static FileNode File(string name, ulong size = 0, bool executable = false) =>
        new() { Name = Bytes(name), Digest = Digest(0xF1), Size = size, Executable = executable };
    internal static SymlinkNode Link(string name, string target = "target") => new() { Name = Bytes(name), Target = Bytes(target) };

    private static Directory Of(DirectoryNode[]? directories = null, FileNode[]? files = null, SymlinkNode[]? symlinks = null)
    {
        var directory = new Directory();
        directory.Directories.AddRange(directories ?? []);
        directory.Files.AddRange(files ?? []);
        directory.Symlinks.AddRange(symlinks ?? []);
        return directory;
    }

    [Test]
    public void EmptyDirectory_HasTheDigestOfTheEmptyInput()
    {
        var digest = DirectoryRules.Digest(new Directory());
        Assert.That(digest.ToHex(), Is.EqualTo("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"));
        Assert.That(digest, Is.EqualTo(B3Digest.Empty));
        Assert.That(DirectoryEncoding.Canonical(new Directory()), Is.Empty);
        Assert.That(DirectoryRules.Size(new Directory()), Is.Zero);
        Assert.DoesNotThrow(() => DirectoryRules.Validate(new Directory()));
    }

    private static readonly byte[] FileA =
    [
        0x12, 0x29, // field 2 (files), 41 bytes
        0x0A, 0x01, (byte)'a', // name
        0x12, 0x20, .. Enumerable.Repeat((byte)0x11, 32), // digest
        0x18, 0x03, // size 3
        0x20, 0x01, // executable
    ];

    private static Directory DirectoryWithFileA() =>
        Of(files: [new FileNode { Name = Bytes("a"), Digest = Digest(0x11), Size = 3, Executable = true }]);

    [Test]
    public void CanonicalEncoding_MatchesHandBuiltBytes()
    {
        var directory = DirectoryWithFileA();
        Assert.That(DirectoryEncoding.Canonical(directory), Is.EqualTo(FileA));
        Assert.That(directory.ToByteArray(), Is.EqualTo(FileA));
        Assert.That(DirectoryRules.Digest(directory), Is.EqualTo(B3Digest.Compute(FileA)));
    }

    [Test]
    public void Digest_IgnoresUnknownFieldsAtEveryLevel()
    {
        byte[] withUnknown =
        [
            0x12, 0x2B,
            0x0A, 0x01, (byte)'a',
            0x12, 0x20, .. Enumerable.Repeat((byte)0x11, 32),
            0x18, 0x03,
            0x20, 0x01,
            0x38, 0x05, // unknown field 7 inside the FileNode
            0x48, 0x01, // unknown field 9 in the Directory
        ];
        var parsed = Directory.Parser.ParseFrom(withUnknown);
        Assert.That(parsed.ToByteArray(), Is.Not.EqualTo(FileA), "Google.Protobuf keeps unknown fields; the digest must not");
        Assert.That(DirectoryEncoding.Canonical(parsed), Is.EqualTo(FileA));
        Assert.That(DirectoryRules.Digest(parsed), Is.EqualTo(DirectoryRules.Digest(DirectoryWithFileA())));
    }

    [Test]
    public void Digest_IsTheSameForNonCanonicalEncodingsOfTheSameMessage()
    {
        byte[] reordered =
        [
            0x12, 0x2B,
            0x20, 0x01, // executable first
            0x18, 0x00, // an explicit default size, then the real one: the last value wins
            0x18, 0x03,
            0x12, 0x20, .. Enumerable.Repeat((byte)0x11, 32),
            0x0A, 0x01, (byte)'a',
        ];
        var parsed = Directory.Parser.ParseFrom(reordered);
        Assert.That(DirectoryRules.Digest(parsed), Is.EqualTo(B3Digest.Compute(FileA)));
    }

    [Test]
    public void Digest_IsBlake3OfTheProtobufEncodingForEveryKindOfNode()
    {
        var directory = Of(
            [Dir("bin", 7), Dir("lib", 300)],
            [File("README", 1 << 20), File("run", 0, executable: true)],
            [Link("latest", "/nix/store/somewhereelse")]);
        byte[] encoding = directory.ToByteArray();
        Assert.That(DirectoryEncoding.Canonical(directory), Is.EqualTo(encoding));
        Assert.That(DirectoryEncoding.CanonicalSize(directory), Is.EqualTo(encoding.Length));
        Assert.That(DirectoryRules.Digest(directory), Is.EqualTo(B3Digest.Compute(encoding)));
    }

    [Test]
    public void Digest_OfALargeDirectory_UsesTheWholeEncoding()
    {
        var directory = Of(files: Enumerable.Range(0, 500).Select(i => File($"f{i:D5}", (ulong)i)).ToArray());
        Assert.That(DirectoryRules.Digest(directory), Is.EqualTo(B3Digest.Compute(directory.ToByteArray())));
    }

    [Test]
    public void ProtobufRoundTrip_KeepsEveryField()
    {
        var directory = Of([Dir("d", 5)], [File("f", 9, true)], [Link("l", "../x")]);
        var parsed = Directory.Parser.ParseFrom(directory.ToByteArray());
        Assert.That(parsed, Is.EqualTo(directory));
        Assert.That(DirectoryRules.Digest(parsed), Is.EqualTo(DirectoryRules.Digest(directory)));
    }

    [Test]
    public void Size_CountsEntriesRecursively()
    {
        var directory = Of([Dir("a", 3), Dir("b", 4)], [File("c")], [Link("d")]);
        Assert.That(DirectoryRules.Size(directory), Is.EqualTo(4 + 3 + 4));
    }

    [Test]
    public void ValidDirectory_IsAccepted()
    {
        var directory = Of([Dir("a"), Dir("c")], [File("b"), File("d")], [Link("B"), Link("e")]);
        Assert.DoesNotThrow(() => DirectoryRules.Validate(directory));
    }

    private static void AssertBroken(Directory directory, string rule, string entry)
    {
        var error = Assert.Throws<StoreValidationException>(() => DirectoryRules.Validate(directory));
        Assert.That(error!.Message, Does.Contain(rule));
        Assert.That(error.Message, Does.Contain(entry));
    }

    [Test]
    public void UnsortedDirectories_AreRejected() =>
        AssertBroken(Of(directories: [Dir("b"), Dir("a")]), DirectoryRules.RuleSorted, "directory \"a\"");

    [Test]
    public void UnsortedFiles_AreRejected() =>
        AssertBroken(Of(files: [File("b"), File("a")]), DirectoryRules.RuleSorted, "file \"a\"");

    [Test]
    public void UnsortedSymlinks_AreRejected() =>
        AssertBroken(Of(symlinks: [Link("b"), Link("a")]), DirectoryRules.RuleSorted, "symlink \"a\"");

    [Test]
    public void SortingIsBytewise_NotByCulture()
    {
        // 'B' (0x42) sorts before 'a' (0x61) and 0xC3 (UTF-8 lead byte) after 'z'.
        Assert.DoesNotThrow(() => DirectoryRules.Validate(Of(files: [File("B"), File("a"), File("z"), File("\u00e9")])));
        AssertBroken(Of(files: [File("a"), File("B")]), DirectoryRules.RuleSorted, "\"B\"");
    }

    [Test]
    public void DuplicateNameInOneList_IsRejected() =>
        AssertBroken(Of(files: [File("a"), File("a")]), DirectoryRules.RuleSorted, "appears twice");

    [Test]
    public void DuplicateNameAcrossDirectoryAndFile_IsRejected() =>
        AssertBroken(Of([Dir("x")], [File("x")]), DirectoryRules.RuleUnique, "\"x\"");

    [Test]
    public void DuplicateNameAcrossFileAndSymlink_IsRejected() =>
        AssertBroken(Of(files: [File("a"), File("x")], symlinks: [Link("x")]), DirectoryRules.RuleUnique, "\"x\"");

    [Test]
    public void DuplicateNameAcrossDirectoryAndSymlink_IsRejected() =>
        AssertBroken(Of([Dir("m")], [File("a"), File("z")], [Link("m")]), DirectoryRules.RuleUnique, "\"m\"");

    [Test]
    public void EmptyName_IsRejected() =>
        AssertBroken(Of(files: [File("")]), DirectoryRules.RuleName, "empty");

    [TestCase(".")]
    [TestCase("..")]
    public void DotNames_AreRejected(string name)
    {
        AssertBroken(Of(directories: [Dir(name)]), DirectoryRules.RuleName, $"\"{name}\"");
        AssertBroken(Of(files: [File(name)]), DirectoryRules.RuleName, $"\"{name}\"");
        AssertBroken(Of(symlinks: [Link(name)]), DirectoryRules.RuleName, $"\"{name}\"");
    }

    [Test]
    public void NameWithSlash_IsRejected() =>
        AssertBroken(Of(files: [File("a/b")]), DirectoryRules.RuleName, "'/'");

    [Test]
    public void NameWithNul_IsRejected_AndShownEscaped() =>
        AssertBroken(Of(symlinks: [new SymlinkNode { Name = Bytes((byte)'a', 0, (byte)'b'), Target = Bytes("t") }]),
            DirectoryRules.RuleName, "\"a\\x00b\"");

    [Test]
    public void NamesOf255Bytes_AreTheLongestAccepted()
    {
        Assert.DoesNotThrow(() => DirectoryRules.Validate(Of(files: [File(new string('n', 255))])));
        AssertBroken(Of(files: [File(new string('n', 256))]), DirectoryRules.RuleName, "256 bytes");
    }

    [Test]
    public void NamesWithArbitraryBytes_AreAccepted()
    {
        var name = Bytes(0xFF, 0x01, (byte)'\n', (byte)'.', (byte)'.', (byte)'.');
        Assert.DoesNotThrow(() => DirectoryRules.Validate(Of(files: [new FileNode { Name = name, Digest = Digest(1) }])));
    }

    [TestCase(0)]
    [TestCase(31)]
    [TestCase(33)]
    public void DirectoryDigestOfWrongLength_IsRejected(int length) =>
        AssertBroken(Of(directories: [new DirectoryNode { Name = Bytes("d"), Digest = Digest(1, length) }]),
            DirectoryRules.RuleDigest, $"directory \"d\": its digest is {length} bytes");

    [TestCase(0)]
    [TestCase(20)]
    [TestCase(64)]
    public void FileDigestOfWrongLength_IsRejected(int length) =>
        AssertBroken(Of(files: [new FileNode { Name = Bytes("f"), Digest = Digest(1, length) }]),
            DirectoryRules.RuleDigest, $"file \"f\": its digest is {length} bytes");

    [Test]
    public void EmptySymlinkTarget_IsRejected() =>
        AssertBroken(Of(symlinks: [Link("l", "")]), DirectoryRules.RuleTarget, "symlink \"l\"");

    [Test]
    public void SymlinkTargetWithNul_IsRejected() =>
        AssertBroken(Of(symlinks: [new SymlinkNode { Name = Bytes("l"), Target = Bytes((byte)'a', 0) }]),
            DirectoryRules.RuleTarget, "contains NUL");

    [Test]
    public void SizeOverflow_IsRejected()
    {
        var directory = Of([Dir("a", ulong.MaxValue - 1)], [File("b")]); // 2 entries + (2^64 - 2)
        AssertBroken(directory, DirectoryRules.RuleSize, "directory \"a\"");
        Assert.Throws<StoreValidationException>(() => DirectoryRules.Size(directory));
    }

    [Test]
    public void SizeOverflowAcrossChildren_IsRejected() =>
        AssertBroken(Of([Dir("a", ulong.MaxValue / 2), Dir("b", ulong.MaxValue / 2)]), DirectoryRules.RuleSize, "directory \"b\"");

    [Test]
    public void ValidateChildSize_ComparesWithTheChildsRecursiveSize()
    {
        var child = Of(files: [File("x"), File("y")]);
        Assert.DoesNotThrow(() => DirectoryRules.ValidateChildSize(Dir("c", 2), child));
        var error = Assert.Throws<StoreValidationException>(() => DirectoryRules.ValidateChildSize(Dir("c", 3), child));
        Assert.That(error!.Message, Does.Contain(DirectoryRules.RuleChildSize).And.Contain("\"c\""));
    }

    [Test]
    public void ValidateNode_ChecksEachKind()
    {
        Assert.DoesNotThrow(() => DirectoryRules.ValidateNode(new Node { File = File("f") }));
        Assert.DoesNotThrow(() => DirectoryRules.ValidateNode(new Node { Directory = Dir("d") }));
        Assert.DoesNotThrow(() => DirectoryRules.ValidateNode(new Node { Symlink = Link("s") }));
        Assert.Throws<StoreValidationException>(() => DirectoryRules.ValidateNode(new Node()));
        Assert.Throws<StoreValidationException>(() => DirectoryRules.ValidateNode(new Node { File = File("") }));
        Assert.Throws<StoreValidationException>(() =>
            DirectoryRules.ValidateNode(new Node { File = new FileNode { Name = Bytes("f"), Digest = Digest(1, 3) } }));
        Assert.Throws<StoreValidationException>(() => DirectoryRules.ValidateNode(new Node { Symlink = Link("s", "") }));
    }

    [Test]
    public void ValidateNode_WithoutRequiredName_IgnoresTheName()
    {
        Assert.DoesNotThrow(() => DirectoryRules.ValidateNode(new Node { File = File("") }, requireName: false));
        Assert.DoesNotThrow(() => DirectoryRules.ValidateNode(new Node { Directory = Dir("a/b") }, requireName: false));
        Assert.Throws<StoreValidationException>(() =>
            DirectoryRules.ValidateNode(new Node { Directory = new DirectoryNode { Digest = Digest(1, 2) } }, requireName: false));
    }

    [Test]
    public void IsValidName_FollowsTheNameRule()
    {
        Assert.That(DirectoryRules.IsValidName("a"u8), Is.True);
        Assert.That(DirectoryRules.IsValidName("..."u8), Is.True);
        Assert.That(DirectoryRules.IsValidName(""u8), Is.False);
        Assert.That(DirectoryRules.IsValidName("."u8), Is.False);
        Assert.That(DirectoryRules.IsValidName(".."u8), Is.False);
        Assert.That(DirectoryRules.IsValidName("a/"u8), Is.False);
        Assert.That(DirectoryRules.IsValidName("a\0"u8), Is.False);
    }

    [Test]
    public void Children_MergesTheThreeListsInNameOrder()
    {
        var directory = Of([Dir("b"), Dir("e")], [File("a"), File("d")], [Link("c"), Link("f")]);
        var names = new List<string>();
        var kinds = new List<CastoreNodeKind>();
        foreach (var child in DirectoryChildren.Of(directory))
        {
            names.Add(child.Name.ToStringUtf8());
            kinds.Add(child.Kind);
        }
        Assert.That(names, Is.EqualTo(new[] { "a", "b", "c", "d", "e", "f" }));
        Assert.That(kinds, Is.EqualTo(new[]
        {
            CastoreNodeKind.File, CastoreNodeKind.Directory, CastoreNodeKind.Symlink,
            CastoreNodeKind.File, CastoreNodeKind.Directory, CastoreNodeKind.Symlink,
        }));
        Assert.That(DirectoryChildren.Of(directory).Count, Is.EqualTo(6));

        var array = DirectoryChildren.Of(directory).ToArray();
        Assert.That(array.Select(c => c.Name.ToStringUtf8()), Is.EqualTo(names));
        Assert.That(array[1].Directory, Is.SameAs(directory.Directories[0]));
        Assert.That(array[3].File, Is.SameAs(directory.Files[1]));
        Assert.That(array[3].Index, Is.EqualTo(1));
        Assert.That(array[5].Symlink, Is.SameAs(directory.Symlinks[1]));
        Assert.That(array[5].ToProtoNode().Symlink, Is.SameAs(directory.Symlinks[1]));

        var nodes = DirectoryChildren.Of(directory).ToNodes();
        Assert.That(nodes.Select(n => n.DisplayName), Is.EqualTo(names.Select(n => $"\"{n}\"")));
        Assert.That(nodes[0], Is.InstanceOf<FileEntry>());
        Assert.That(nodes[1], Is.InstanceOf<DirectoryEntry>());
        Assert.That(nodes[2], Is.InstanceOf<SymlinkEntry>());
    }

    [Test]
    public void Children_OfAnEmptyDirectory_IsEmpty()
    {
        int count = 0;
        foreach (var _ in DirectoryChildren.Of(new Directory()))
            count++;
        Assert.That(count, Is.Zero);
    }

    [Test]
    public void TryFindChild_FindsEachKindByName()
    {
        var directory = Of([Dir("b"), Dir("e")], [File("a"), File("d")], [Link("c"), Link("f")]);
        foreach (var (name, kind) in new[] { ("a", CastoreNodeKind.File), ("b", CastoreNodeKind.Directory), ("f", CastoreNodeKind.Symlink), ("e", CastoreNodeKind.Directory) })
        {
            Assert.That(DirectoryChildren.Of(directory).TryFind(System.Text.Encoding.UTF8.GetBytes(name), out var child), Is.True, name);
            Assert.That(child.Kind, Is.EqualTo(kind));
            Assert.That(child.Name.ToStringUtf8(), Is.EqualTo(name));
        }
        Assert.That(DirectoryChildren.Of(directory).TryFind("g"u8, out _), Is.False);
        Assert.That(DirectoryChildren.Of(directory).TryFind(""u8, out _), Is.False);
        Assert.That(DirectoryChildren.Of(new Directory()).TryFind("a"u8, out _), Is.False);
    }

    [Test]
    public void FromNodes_SortsAndValidates()
    {
        var d = B3Digest.Compute("d"u8);
        var directory = DirectoryRules.FromNodes(
        [
            new SymlinkEntry("z"u8, "target"u8),
            new FileEntry("b"u8, d, 1, executable: true),
            new DirectoryEntry("a"u8, d, 4),
            new FileEntry("B"u8, d, 2, executable: false),
        ]);
        Assert.That(directory.Files.Select(f => f.Name.ToStringUtf8()), Is.EqualTo(new[] { "B", "b" }));
        Assert.That(directory.Directories.Single().Size, Is.EqualTo(4));
        Assert.That(DirectoryRules.Size(directory), Is.EqualTo(8));

        Assert.Throws<StoreValidationException>(() => DirectoryRules.FromNodes([new FileEntry("x"u8, d, 1, false), new SymlinkEntry("x"u8, "t"u8)]));
        Assert.Throws<StoreValidationException>(() => DirectoryRules.FromNodes([new FileEntry(""u8, d, 1, false)]));
    }

    [Test]
    public void EnumeratingChildren_DoesNotAllocate()
    {
        var directory = Of([Dir("b"), Dir("e")], [File("a"), File("d")], [Link("c"), Link("f")]);
        int Walk()
        {
            int n = 0;
            foreach (var child in DirectoryChildren.Of(directory))
                n += child.Name.Length;
            return n;
        }
        Walk();
        long before = GC.GetAllocatedBytesForCurrentThread();
        int total = 0;
        for (int i = 0; i < 100; i++)
            total += Walk();
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
        Assert.That(total, Is.EqualTo(600));
    }
}

[TestFixture]
public sealed class DirectoryVerificationTests
{
    private static Directory Sample()
    {
        var directory = new Directory();
        directory.Files.Add(DirectoryRulesTests.File("a", 3));
        return directory;
    }

    [Test]
    public void ParseVerified_AcceptsTheDirectoryOfTheDigest()
    {
        var directory = Sample();
        var parsed = VerifiedDirectory.Decode(directory.ToByteArray(), DirectoryRules.Digest(directory)).Message;
        Assert.That(parsed, Is.EqualTo(directory));
    }

    [Test]
    public void ParseVerified_RejectsBytesOfAnotherDirectory()
    {
        var claimed = B3Digest.Compute("other"u8);
        var error = Assert.Throws<StoreValidationException>(() => VerifiedDirectory.Decode(Sample().ToByteArray(), claimed));
        Assert.That(error!.Message, Does.Contain(claimed.ToString()).And.Contain("hashes to"));
    }

    [Test]
    public void ParseVerified_RejectsBytesThatAreNoDirectory()
    {
        var claimed = B3Digest.Compute("x"u8);
        var error = Assert.Throws<StoreValidationException>(() => VerifiedDirectory.Decode([0x0A, 0x05, 0x01], claimed));
        Assert.That(error!.Message, Does.Contain(claimed.ToString()).And.Contain("not a Directory"));
    }

    [Test]
    public void ParseVerified_RejectsAnInvalidDirectoryEvenWithTheRightDigest()
    {
        var invalid = new Directory();
        invalid.Files.Add(DirectoryRulesTests.File("b"));
        invalid.Files.Add(DirectoryRulesTests.File("a"));
        var digest = DirectoryRules.Digest(invalid);
        var error = Assert.Throws<StoreValidationException>(() => VerifiedDirectory.Decode(invalid.ToByteArray(), digest));
        Assert.That(error!.Message, Does.Contain(digest.ToString()).And.Contain(DirectoryRules.RuleSorted));
    }

    [Test]
    public void EscapedText_ShowsControlAndNonAsciiCharacters()
    {
        Assert.That(NodeNames.Escape("plain-name"), Is.EqualTo("plain-name"));
        Assert.That(NodeNames.Escape("a\nb\u00e9\\"), Is.EqualTo("a\\u000ab\\u00e9\\\\"));
        Assert.That(NodeNames.Escape(Enumerable.Repeat((byte)'x', 400).ToArray()), Does.EndWith("... (400 bytes)"));
    }
}
