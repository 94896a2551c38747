using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using NUnit.Framework;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Tests.Model;

[TestFixture]
public sealed class NarWriterTests
{
    // The NAR strings of the tokens, built by hand: u64 LE length, bytes, zero padding to 8.
    private static byte[] Tokens(params object[] tokens)
    {
        var bytes = new List<byte>();
        foreach (var token in tokens)
        {
            byte[] content = token as byte[] ?? Encoding.ASCII.GetBytes((string)token);
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)content.Length);
            bytes.AddRange(length);
            bytes.AddRange(content);
            while (bytes.Count % 8 != 0)
                bytes.Add(0);
        }
        return [.. bytes];
    }

    private static byte[] Write(Action<NarWriter> write)
    {
        var output = new MemoryStream();
        var writer = new NarWriter(output);
        write(writer);
        Assert.That(writer.IsComplete, Is.True);
        return output.ToArray();
    }

    [Test]
    public void Symlink_MatchesTheProtocolExampleByteForByte()
    {
        string expectedHex =
            "0d00000000000000" + "6e69782d617263686976652d31000000" + // nix-archive-1
            "0100000000000000" + "2800000000000000" + // (
            "0400000000000000" + "7479706500000000" + // type
            "0700000000000000" + "73796d6c696e6b00" + // symlink
            "0600000000000000" + "7461726765740000" + // target
            "1800000000000000" + "2f6e69782f73746f72652f736f6d65776865726565 6c7365".Replace(" ", "") + // /nix/store/somewhereelse
            "0100000000000000" + "2900000000000000"; // )
        byte[] nar = Write(w =>
        {
            w.WriteHeader();
            w.WriteSymlink("/nix/store/somewhereelse"u8);
        });
        Assert.That(Convert.ToHexStringLower(nar), Is.EqualTo(expectedHex));
        Assert.That(nar, Is.EqualTo(Tokens("nix-archive-1", "(", "type", "symlink", "target", "/nix/store/somewhereelse", ")")));
    }

    [Test]
    public void RegularFile_IsContentsPaddedToEight()
    {
        byte[] nar = Write(w =>
        {
            w.WriteHeader();
            w.BeginFile(executable: false, 11);
            w.WriteFileContents("hello "u8);
            w.WriteFileContents("world"u8);
            w.EndFile();
        });
        Assert.That(nar, Is.EqualTo(Tokens("nix-archive-1", "(", "type", "regular", "contents", "hello world", ")")));
    }

    [Test]
    public void ExecutableFile_CarriesTheExecutableMarker()
    {
        byte[] nar = Write(w =>
        {
            w.WriteHeader();
            w.BeginFile(executable: true, 8);
            w.WriteFileContents("#!/bin/s"u8);
            w.EndFile();
        });
        Assert.That(nar, Is.EqualTo(Tokens("nix-archive-1", "(", "type", "regular", "executable", "", "contents", "#!/bin/s", ")")));
    }

    [Test]
    public void EmptyFile_HasAnEmptyContentsString()
    {
        byte[] nar = Write(w =>
        {
            w.WriteHeader();
            w.BeginFile(executable: false, 0);
            w.EndFile();
        });
        Assert.That(nar, Is.EqualTo(Tokens("nix-archive-1", "(", "type", "regular", "contents", "", ")")));
    }

    [Test]
    public void NestedDirectory_ListsEntriesInNameOrder()
    {
        byte[] nar = Write(w =>
        {
            w.WriteHeader();
            w.BeginDirectory();
            w.BeginEntry("bin"u8);
            w.BeginDirectory();
            w.BeginEntry("hello"u8);
            w.BeginFile(executable: true, 3);
            w.WriteFileContents("abc"u8);
            w.EndFile();
            w.EndEntry();
            w.EndDirectory();
            w.EndEntry();
            w.BeginEntry("empty"u8);
            w.BeginDirectory();
            w.EndDirectory();
            w.EndEntry();
            w.BeginEntry("link"u8);
            w.WriteSymlink("bin/hello"u8);
            w.EndEntry();
            w.EndDirectory();
        });
        byte[] expected = Tokens(
            "nix-archive-1", "(", "type", "directory",
            "entry", "(", "name", "bin", "node",
            "(", "type", "directory",
            "entry", "(", "name", "hello", "node",
            "(", "type", "regular", "executable", "", "contents", "abc", ")",
            ")",
            ")",
            ")",
            "entry", "(", "name", "empty", "node", "(", "type", "directory", ")", ")",
            "entry", "(", "name", "link", "node", "(", "type", "symlink", "target", "bin/hello", ")", ")",
            ")");
        Assert.That(nar, Is.EqualTo(expected));
        var tree = (NarDirectory)NarReader.Read(nar);
        Assert.That(tree.Entries.Select(e => Encoding.ASCII.GetString(e.Name)), Is.EqualTo(new[] { "bin", "empty", "link" }));
    }

    [Test]
    public async Task AsyncContents_AreWrittenLikeSyncOnes()
    {
        var output = new MemoryStream();
        var writer = new NarWriter(output);
        writer.WriteHeader();
        writer.BeginFile(executable: false, 5);
        await writer.WriteFileContentsAsync("he"u8.ToArray());
        await writer.WriteFileContentsAsync("llo"u8.ToArray());
        writer.EndFile();
        Assert.That(output.ToArray(), Is.EqualTo(Tokens("nix-archive-1", "(", "type", "regular", "contents", "hello", ")")));
    }

    [Test]
    public void LongSymlinkTarget_IsWrittenWhole()
    {
        byte[] target = Enumerable.Repeat((byte)'t', 4093).ToArray();
        byte[] nar = Write(w =>
        {
            w.WriteHeader();
            w.WriteSymlink(target);
        });
        Assert.That(nar, Is.EqualTo(Tokens("nix-archive-1", "(", "type", "symlink", "target", target, ")")));
    }

    [Test]
    public void FewerBytesThanAnnounced_AreRejected()
    {
        var writer = new NarWriter(new MemoryStream());
        writer.WriteHeader();
        writer.BeginFile(false, 10);
        writer.WriteFileContents(new byte[9]);
        var error = Assert.Throws<InvalidOperationException>(writer.EndFile);
        Assert.That(error!.Message, Does.Contain("10").And.Contain("9"));
    }

    [Test]
    public void MoreBytesThanAnnounced_AreRejected()
    {
        var writer = new NarWriter(new MemoryStream());
        writer.WriteHeader();
        writer.BeginFile(false, 4);
        writer.WriteFileContents(new byte[3]);
        Assert.Throws<InvalidOperationException>(() => writer.WriteFileContents(new byte[2]));
    }

    [Test]
    public void CallsOutOfOrder_AreRejected()
    {
        Assert.Throws<InvalidOperationException>(() => new NarWriter(new MemoryStream()).BeginDirectory());
        Assert.Throws<InvalidOperationException>(() => new NarWriter(new MemoryStream()).WriteSymlink("x"u8));

        var writer = new NarWriter(new MemoryStream());
        writer.WriteHeader();
        Assert.Throws<InvalidOperationException>(writer.WriteHeader);
        Assert.Throws<InvalidOperationException>(() => writer.BeginEntry("a"u8));
        Assert.Throws<InvalidOperationException>(writer.EndDirectory);
        Assert.Throws<InvalidOperationException>(writer.EndFile);
        Assert.Throws<InvalidOperationException>(() => writer.WriteFileContents("x"u8));

        writer.BeginDirectory();
        Assert.Throws<InvalidOperationException>(() => writer.WriteSymlink("x"u8));
        Assert.Throws<InvalidOperationException>(writer.EndEntry);
        writer.BeginEntry("a"u8);
        Assert.Throws<InvalidOperationException>(writer.EndEntry);
        Assert.Throws<InvalidOperationException>(writer.EndDirectory);
        writer.WriteSymlink("x"u8);
        Assert.Throws<InvalidOperationException>(() => writer.BeginEntry("b"u8));
        writer.EndEntry();
        writer.EndDirectory();
        Assert.That(writer.IsComplete, Is.True);
        Assert.Throws<InvalidOperationException>(() => writer.BeginFile(false, 0));
    }

    [TestCase("b", "a")]
    [TestCase("a", "a")]
    [TestCase("a", "B")]
    public void EntriesNotInStrictlyAscendingOrder_AreRejected(string first, string second)
    {
        var writer = new NarWriter(new MemoryStream());
        writer.WriteHeader();
        writer.BeginDirectory();
        writer.BeginEntry(Encoding.ASCII.GetBytes(first));
        writer.WriteSymlink("x"u8);
        writer.EndEntry();
        Assert.Throws<ArgumentException>(() => writer.BeginEntry(Encoding.ASCII.GetBytes(second)));
    }

    [Test]
    public void OrderIsCheckedPerDirectory()
    {
        Assert.DoesNotThrow(() => Write(w =>
        {
            w.WriteHeader();
            w.BeginDirectory();
            w.BeginEntry("m"u8);
            w.BeginDirectory();
            w.BeginEntry("z"u8);
            w.WriteSymlink("x"u8);
            w.EndEntry();
            w.EndDirectory();
            w.EndEntry();
            w.BeginEntry("n"u8); // after "m" in the outer directory, though before the inner "z"
            w.WriteSymlink("x"u8);
            w.EndEntry();
            w.EndDirectory();
        }));
    }

    [TestCase("")]
    [TestCase(".")]
    [TestCase("..")]
    [TestCase("a/b")]
    [TestCase("a\0")]
    public void InvalidEntryNames_AreRejected(string name)
    {
        var writer = new NarWriter(new MemoryStream());
        writer.WriteHeader();
        writer.BeginDirectory();
        Assert.Throws<ArgumentException>(() => writer.BeginEntry(Encoding.ASCII.GetBytes(name)));
    }

    [Test]
    public void InvalidSymlinkTargets_AreRejected()
    {
        var writer = new NarWriter(new MemoryStream());
        writer.WriteHeader();
        Assert.Throws<ArgumentException>(() => writer.WriteSymlink(""u8));
        Assert.Throws<ArgumentException>(() => writer.WriteSymlink("a\0b"u8));
    }

    [Test]
    public void NarHasher_GivesSizeAndSha256OfTheArchive()
    {
        void WriteTree(NarWriter w)
        {
            w.WriteHeader();
            w.BeginDirectory();
            w.BeginEntry("f"u8);
            w.BeginFile(false, 1000);
            for (int i = 0; i < 10; i++)
                w.WriteFileContents(Enumerable.Repeat((byte)i, 100).ToArray());
            w.EndFile();
            w.EndEntry();
            w.EndDirectory();
        }
        byte[] nar = Write(WriteTree);
        using var hasher = new NarHasher();
        WriteTree(new NarWriter(hasher));
        Assert.That(hasher.Size, Is.EqualTo((ulong)nar.Length));
        Assert.That(hasher.CurrentSha256(), Is.EqualTo(SHA256.HashData(nar)));
    }

    [Test]
    public void StringSize_IncludesLengthWordAndPadding()
    {
        Assert.That(NarWriter.StringSize(0), Is.EqualTo(8));
        Assert.That(NarWriter.StringSize(1), Is.EqualTo(16));
        Assert.That(NarWriter.StringSize(8), Is.EqualTo(16));
        Assert.That(NarWriter.StringSize(9), Is.EqualTo(24));
    }
}
