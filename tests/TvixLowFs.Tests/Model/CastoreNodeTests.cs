using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Tests.Model;

[TestFixture]
public sealed class CastoreNodeTests
{
    private static readonly B3Digest SomeDigest = B3Digest.Compute("contents"u8);

    [Test]
    public void FileEntry_RoundTripsThroughProtobuf()
    {
        var file = new FileEntry("hello.txt"u8, SomeDigest, 8, executable: true);
        var proto = file.ToProto();
        Assert.That(proto.NodeCase, Is.EqualTo(Node.NodeOneofCase.File));
        Assert.That(proto.File.Name.ToStringUtf8(), Is.EqualTo("hello.txt"));
        Assert.That(proto.File.Digest.ToByteArray(), Is.EqualTo(SomeDigest.ToArray()));
        Assert.That(proto.File.Size, Is.EqualTo(8));
        Assert.That(proto.File.Executable, Is.True);

        var back = CastoreNode.FromProto(Node.Parser.ParseFrom(proto.ToByteArray()));
        Assert.That(back, Is.EqualTo(file));
        Assert.That(back.GetHashCode(), Is.EqualTo(file.GetHashCode()));
        Assert.That(back.Kind, Is.EqualTo(CastoreNodeKind.File));
    }

    [Test]
    public void DirectoryEntry_RoundTripsThroughProtobuf()
    {
        var directory = new DirectoryEntry("lib"u8, SomeDigest, 12);
        var back = CastoreNode.FromProto(Node.Parser.ParseFrom(directory.ToProto().ToByteArray()));
        Assert.That(back, Is.EqualTo(directory));
        Assert.That(((DirectoryEntry)back).Size, Is.EqualTo(12));
        Assert.That(((DirectoryEntry)back).Digest, Is.EqualTo(SomeDigest));
    }

    [Test]
    public void SymlinkEntry_RoundTripsThroughProtobuf()
    {
        var symlink = new SymlinkEntry("latest"u8, "/nix/store/somewhereelse"u8);
        var back = CastoreNode.FromProto(Node.Parser.ParseFrom(symlink.ToProto().ToByteArray()));
        Assert.That(back, Is.EqualTo(symlink));
        Assert.That(((SymlinkEntry)back).Target.ToArray(), Is.EqualTo("/nix/store/somewhereelse"u8.ToArray()));
    }

    [Test]
    public void Equality_ComparesEveryField()
    {
        var file = new FileEntry("f"u8, SomeDigest, 1, false);
        Assert.That(file, Is.Not.EqualTo(new FileEntry("f"u8, SomeDigest, 1, true)));
        Assert.That(file, Is.Not.EqualTo(new FileEntry("f"u8, SomeDigest, 2, false)));
        Assert.That(file, Is.Not.EqualTo(new FileEntry("g"u8, SomeDigest, 1, false)));
        Assert.That(file, Is.Not.EqualTo(new FileEntry("f"u8, B3Digest.Empty, 1, false)));
        Assert.That(file, Is.Not.EqualTo(new DirectoryEntry("f"u8, SomeDigest, 1)));
        Assert.That(new SymlinkEntry("s"u8, "a"u8), Is.Not.EqualTo(new SymlinkEntry("s"u8, "b"u8)));
    }

    [Test]
    public void Values_AreNotChangedThroughTheBytesTheyWereBuiltFrom()
    {
        byte[] name = "abc"u8.ToArray();
        byte[] target = "xyz"u8.ToArray();
        var symlink = new SymlinkEntry(name, target);
        name[0] = (byte)'Z';
        target[0] = (byte)'Z';
        Assert.That(symlink.Name.ToArray(), Is.EqualTo("abc"u8.ToArray()));
        Assert.That(symlink.Target.ToArray(), Is.EqualTo("xyz"u8.ToArray()));
    }

    [TestCase(".")]
    [TestCase("..")]
    [TestCase("a/b")]
    [TestCase("a\0b")]
    public void InvalidNames_AreRejected(string name)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(name);
        Assert.Throws<StoreValidationException>(() => new FileEntry(bytes, SomeDigest, 0, false));
        Assert.Throws<StoreValidationException>(() => new DirectoryEntry(bytes, SomeDigest, 0));
        Assert.Throws<StoreValidationException>(() => new SymlinkEntry(bytes, "t"u8));
        Assert.Throws<StoreValidationException>(() => CastoreNode.FromProto(new Node
        {
            File = new FileNode { Name = ByteString.CopyFrom(bytes), Digest = SomeDigest.ToByteString() },
        }));
    }

    [Test]
    public void NameOf256Bytes_IsRejected() =>
        Assert.Throws<StoreValidationException>(() => new FileEntry(Enumerable.Repeat((byte)'a', 256).ToArray(), SomeDigest, 0, false));

    [Test]
    public void EmptyName_MarksAnUnnamedNode()
    {
        var unnamed = CastoreNode.FromProto(new Node { File = new FileNode { Digest = SomeDigest.ToByteString(), Size = 1 } });
        Assert.That(unnamed.Name.IsEmpty, Is.True);
        var named = unnamed.WithName("x"u8);
        Assert.That(named.Name.ToArray(), Is.EqualTo("x"u8.ToArray()));
        Assert.That(named, Is.EqualTo(new FileEntry("x"u8, SomeDigest, 1, false)));
    }

    [Test]
    public void WithName_KeepsEverythingElse()
    {
        CastoreNode symlink = new SymlinkEntry("a"u8, "t"u8);
        Assert.That(symlink.WithName("b"u8), Is.EqualTo(new SymlinkEntry("b"u8, "t"u8)));
        CastoreNode directory = new DirectoryEntry("a"u8, SomeDigest, 3);
        Assert.That(directory.WithName("b"u8), Is.EqualTo(new DirectoryEntry("b"u8, SomeDigest, 3)));
        Assert.Throws<StoreValidationException>(() => directory.WithName("."u8));
    }

    [Test]
    public void BadDigestOrTarget_IsRejected()
    {
        Assert.Throws<StoreValidationException>(() => CastoreNode.FromProto(new Node
        {
            Directory = new DirectoryNode { Name = ByteString.CopyFromUtf8("d"), Digest = ByteString.CopyFrom(new byte[31]) },
        }));
        Assert.Throws<StoreValidationException>(() => CastoreNode.FromProto(new Node
        {
            Symlink = new SymlinkNode { Name = ByteString.CopyFromUtf8("s") },
        }));
        Assert.Throws<StoreValidationException>(() => new SymlinkEntry("s"u8, "a\0"u8));
        Assert.Throws<StoreValidationException>(() => CastoreNode.FromProto(new Node()));
    }

    [Test]
    public void DisplayName_EscapesWhatIsNotPrintable()
    {
        var file = new FileEntry([(byte)'a', (byte)'\n', 0xFF, (byte)'"'], SomeDigest, 0, false);
        Assert.That(file.DisplayName, Is.EqualTo("\"a\\x0a\\xff\\\"\""));
        Assert.That(file.ToString(), Does.Contain(file.DisplayName));
    }
}
