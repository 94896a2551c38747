using System.Text;
using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using StorePath = TvixLowFs.Store.Model.StorePath;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.TestSupport;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Issue 14 point 1: sizes that do not fit the kernel's signed 64-bit types (a file of 2^63
/// bytes, a directory node of 2^63 entries, a recursive size past 2^63 - 1) break a Directory
/// rule, and a store holding such a Directory answers EIO instead of hanging the directory.
/// </summary>
[TestFixture]
[CancelAfter(180_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class OversizedNodeTests
{
    private const ulong TooLarge = 1UL << 63;

    private static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);

    private static ByteString SomeDigest(byte tag) => ByteString.CopyFrom(Enumerable.Repeat(tag, 32).ToArray());

    private static void AssertBroken(Directory directory, string entry)
    {
        var error = Assert.Throws<StoreValidationException>(() => DirectoryRules.Validate(directory));
        Assert.That(error!.Message, Does.Contain(DirectoryRules.RuleSize).And.Contain(entry));
    }

    [Test]
    public void AFileOf2To63BytesBreaksTheSizeRule() =>
        AssertBroken(new Directory { Files = { new FileNode { Name = Bytes("f"), Digest = SomeDigest(1), Size = TooLarge } } }, "file \"f\"");

    [Test]
    public void ADirectoryNodeOf2To63EntriesBreaksTheSizeRule() =>
        AssertBroken(new Directory { Directories = { new DirectoryNode { Name = Bytes("d"), Digest = SomeDigest(2), Size = TooLarge } } }, "directory \"d\"");

    [Test]
    public void ARecursiveSizePast2To63Minus1BreaksTheSizeRule()
    {
        // Each node fits; the directory's own size (2 entries + long.MaxValue) does not.
        var directory = new Directory
        {
            Directories = { new DirectoryNode { Name = Bytes("d"), Digest = SomeDigest(2), Size = long.MaxValue } },
            Files = { new FileNode { Name = Bytes("f"), Digest = SomeDigest(1), Size = 1 } },
        };
        AssertBroken(directory, "directory \"d\"");
        Assert.Throws<StoreValidationException>(() => DirectoryRules.Size(directory));
    }

    [Test]
    public void TheLargestSizesThatFitAreAccepted()
    {
        var directory = new Directory
        {
            Directories = { new DirectoryNode { Name = Bytes("d"), Digest = SomeDigest(2), Size = long.MaxValue - 2 } },
            Files = { new FileNode { Name = Bytes("f"), Digest = SomeDigest(1), Size = long.MaxValue } },
        };
        Assert.DoesNotThrow(() => DirectoryRules.Validate(directory));
        Assert.That(DirectoryRules.Size(directory), Is.EqualTo((ulong)long.MaxValue));
    }

    [Test]
    public void APathInfoRootOfOversizedNodesIsRefused()
    {
        Assert.Multiple(() =>
        {
            var file = new Node { File = new FileNode { Name = Bytes("f"), Digest = SomeDigest(1), Size = TooLarge } };
            Assert.That(Assert.Throws<StoreValidationException>(() => DirectoryRules.ValidateNode(file))!.Message, Does.Contain(DirectoryRules.RuleSize));
            var directory = new Node { Directory = new DirectoryNode { Name = Bytes("d"), Digest = SomeDigest(2), Size = TooLarge } };
            Assert.That(Assert.Throws<StoreValidationException>(() => DirectoryRules.ValidateNode(directory))!.Message, Does.Contain(DirectoryRules.RuleSize));
        });
    }

    [Test]
    public async Task AStoredDirectoryWithAFileOf2To63BytesAnswersEioAndNeverHangs()
    {
        await using TemporaryLocalStore temporary = TemporaryLocalStore.Create("oversized");
        LocalStore local = ((LocalBlobService)temporary.Store.Blobs).Store;
        string healthy = await new TestTreeWriter(temporary.Store).AddStorePathAsync("healthy", new DirSpec(("f", FileSpec.Text("fine\n"))));

        // Written straight into the store's layout, as a hostile writer or an older version could
        // have left it (the store's own write path refuses it now).
        var hostile = new Directory { Files = { new FileNode { Name = Bytes("huge"), Digest = SomeDigest(7), Size = TooLarge } } };
        B3Digest digest = DirectoryRules.Digest(hostile);
        WriteFile(local.DirectoryPath(digest), DirectoryEncoding.Canonical(hostile));
        string basename = TestTreeWriter.Basename("oversized");
        var pathInfo = new PathInfo { Node = new Node { Directory = new DirectoryNode { Name = Bytes(basename), Digest = digest.ToByteString(), Size = 1 } } };
        WriteFile(local.PathInfoPath(StorePath.ParseBasename(basename).Hash), pathInfo.ToByteArray());

        using var mount = new InProcessMount(temporary.Store, new StoreFilesystemOptions { BackendTimeout = TimeSpan.FromSeconds(20) });
        string path = mount.PathOf(basename);
        // The first lookup starts the closure prefetch; the listing and lookups after it wait for it.
        Assert.That(BoundedCall.Run(() => Libc.LStat(path, out _), "lookup of the store path"), Is.Zero);
        Task<int> listing = Task.Run(() => Libc.ListDirectory(path).Errno);
        Task<int> lookup = Task.Run(() => Libc.LStat(Path.Combine(path, "huge"), out _));
        Assert.That(Task.WhenAll(listing, lookup).Wait(TimeSpan.FromSeconds(60)), Is.True, "readdir and lookup in the directory were answered");
        Assert.Multiple(() =>
        {
            Assert.That(listing.Result, Is.EqualTo(Libc.EIO), "readdir");
            Assert.That(lookup.Result, Is.EqualTo(Libc.EIO), "lookup");
        });
        Assert.That(BoundedCall.Run(() => Libc.ListDirectory(mount.PathOf(healthy)).Names, "listing of a healthy path"), Is.EqualTo(new[] { ".", "..", "f" }), "the mount keeps serving");
    }

    private static void WriteFile(string path, byte[] bytes)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }
}
