using System.Security.Cryptography;
using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Model;

[TestFixture]
public sealed class NarRendererTests
{
    private readonly Dictionary<B3Digest, Directory> _directories = [];
    private readonly Dictionary<B3Digest, byte[]> _blobs = [];

    private FileNode AddBlob(string name, byte[] contents, bool executable = false)
    {
        var digest = B3Digest.Compute(contents);
        _blobs[digest] = contents;
        return new FileNode { Name = ByteString.CopyFromUtf8(name), Digest = digest.ToByteString(), Size = (ulong)contents.Length, Executable = executable };
    }

    private DirectoryNode AddDirectory(string name, Directory directory)
    {
        var digest = DirectoryRules.Digest(directory);
        _directories[digest] = directory;
        return new DirectoryNode { Name = ByteString.CopyFromUtf8(name), Digest = digest.ToByteString(), Size = DirectoryRules.Size(directory) };
    }

    // Like a store's get, but without checking the digest asked for (the renderer does): an invalid
    // Directory fails here, as it fails in every store; one under another digest reaches the renderer.
    private ValueTask<VerifiedDirectory?> Lookup(B3Digest digest, CancellationToken _) =>
        ValueTask.FromResult(_directories.TryGetValue(digest, out Directory? directory) ? VerifiedDirectory.Create(directory) : null);

    private async ValueTask WriteBlob(B3Digest digest, ulong size, NarWriter writer, CancellationToken cancellationToken)
    {
        byte[] contents = _blobs[digest];
        for (int at = 0; at < contents.Length; at += 3)
            await writer.WriteFileContentsAsync(contents.AsMemory(at, Math.Min(3, contents.Length - at)), cancellationToken);
    }

    private async Task<byte[]> Render(Node root)
    {
        var output = new MemoryStream();
        var writer = new NarWriter(output);
        await NarRenderer.WriteAsync(writer, root, Lookup, WriteBlob);
        Assert.That(writer.IsComplete, Is.True);
        return output.ToArray();
    }

    private Node SampleTree()
    {
        var bin = new Directory();
        bin.Files.Add(AddBlob("hello", "#!/bin/sh\necho hello\n"u8.ToArray(), executable: true));
        var root = new Directory();
        root.Directories.Add(AddDirectory("bin", bin));
        root.Directories.Add(AddDirectory("empty", new Directory()));
        root.Files.Add(AddBlob("README", "read me"u8.ToArray()));
        root.Symlinks.Add(new SymlinkNode { Name = ByteString.CopyFromUtf8("link"), Target = ByteString.CopyFromUtf8("bin/hello") });
        return new Node { Directory = AddDirectory("", root) };
    }

    [Test]
    public async Task DirectoryGraph_RendersInNameOrder()
    {
        var tree = (NarDirectory)NarReader.Read(await Render(SampleTree()));
        Assert.That(tree.Entries.Select(e => System.Text.Encoding.ASCII.GetString(e.Name)), Is.EqualTo(new[] { "README", "bin", "empty", "link" }));
        var bin = (NarDirectory)tree.Entries[1].Node;
        var hello = (NarRegular)bin.Entries.Single().Node;
        Assert.That(hello.Executable, Is.True);
        Assert.That(hello.Contents, Is.EqualTo("#!/bin/sh\necho hello\n"u8.ToArray()));
        Assert.That(((NarDirectory)tree.Entries[2].Node).Entries, Is.Empty);
        Assert.That(((NarSymlink)tree.Entries[3].Node).Target, Is.EqualTo("bin/hello"u8.ToArray()));
    }

    [Test]
    public async Task SingleFileAndSymlink_RenderAsTheRootNode()
    {
        var file = (NarRegular)NarReader.Read(await Render(new Node { File = AddBlob("x", "abcdefgh"u8.ToArray()) }));
        Assert.That(file.Contents, Is.EqualTo("abcdefgh"u8.ToArray()));
        var symlink = (NarSymlink)NarReader.Read(await Render(new Node
        {
            Symlink = new SymlinkNode { Target = ByteString.CopyFromUtf8("/nix/store/somewhereelse") },
        }));
        Assert.That(symlink.Target, Is.EqualTo("/nix/store/somewhereelse"u8.ToArray()));
    }

    [Test]
    public async Task HashingTheRendering_GivesNarSizeAndSha256()
    {
        var root = SampleTree();
        byte[] nar = await Render(root);
        using var hasher = new NarHasher();
        await NarRenderer.WriteAsync(new NarWriter(hasher), root, Lookup, WriteBlob);
        Assert.That(hasher.Size, Is.EqualTo((ulong)nar.Length));
        Assert.That(hasher.CurrentSha256(), Is.EqualTo(SHA256.HashData(nar)));
    }

    [Test]
    public async Task DeepTree_DoesNotExhaustTheStack()
    {
        var node = AddDirectory("d", new Directory());
        for (int i = 0; i < 20_000; i++)
        {
            var parent = new Directory();
            parent.Directories.Add(node);
            node = AddDirectory("d", parent);
        }
        using var hasher = new NarHasher();
        await Assert.DoesNotThrowAsync(async () => await NarRenderer.WriteAsync(new NarWriter(hasher), new Node { Directory = node }, Lookup, WriteBlob));
        Assert.That(hasher.Size, Is.GreaterThan(20_000UL * 100));
    }

    [Test]
    public async Task MissingDirectory_IsReported()
    {
        var root = new Node { Directory = new DirectoryNode { Digest = B3Digest.Compute("nowhere"u8).ToByteString() } };
        var error = await Assert.ThrowsAsync<StoreValidationException>(async () => await Render(root));
        Assert.That(error!.Message, Does.Contain(B3Digest.Compute("nowhere"u8).ToString()));
    }

    [Test]
    public async Task DirectoryThatDoesNotHashToItsDigest_IsReported()
    {
        var wrong = new Directory();
        wrong.Symlinks.Add(new SymlinkNode { Name = ByteString.CopyFromUtf8("evil"), Target = ByteString.CopyFromUtf8("/etc/passwd") });
        var digest = B3Digest.Compute("claimed"u8);
        _directories[digest] = wrong;
        var error = await Assert.ThrowsAsync<StoreValidationException>(async () =>
            await Render(new Node { Directory = new DirectoryNode { Digest = digest.ToByteString(), Size = 1 } }));
        Assert.That(error!.Message, Does.Contain(digest.ToString()));
    }

    [Test]
    public async Task InvalidDirectory_IsReported()
    {
        var invalid = new Directory();
        invalid.Files.Add(AddBlob("..", "x"u8.ToArray()));
        var node = AddDirectory("", invalid);
        var error = await Assert.ThrowsAsync<StoreValidationException>(async () => await Render(new Node { Directory = node }));
        Assert.That(error!.Message, Does.Contain(DirectoryRules.RuleName));
    }

    [Test]
    public async Task ChildSizeMismatch_IsReported()
    {
        var node = AddDirectory("", new Directory());
        node.Size = 5;
        var error = await Assert.ThrowsAsync<StoreValidationException>(async () => await Render(new Node { Directory = node }));
        Assert.That(error!.Message, Does.Contain(DirectoryRules.RuleChildSize));
    }

    [TestCase(4UL)]
    [TestCase(6UL)]
    public async Task BlobOfTheWrongSize_IsReported(ulong claimedSize)
    {
        var file = AddBlob("f", "12345"u8.ToArray());
        file.Size = claimedSize;
        var error = await Assert.ThrowsAsync<StoreValidationException>(async () => await Render(new Node { File = file }));
        Assert.That(error!.Message, Does.Contain("blob").And.Contain($"{claimedSize} bytes"));
    }
}
