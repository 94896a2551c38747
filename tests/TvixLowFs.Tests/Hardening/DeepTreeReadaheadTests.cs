using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Filesystem;
using Directory = TvixLowFs.Protos.Castore.Directory;

using static TvixLowFs.Tests.Filesystem.HandlerRequests;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Issue 14 point 6: tree readahead through a chain of thousands of directories, every one of
/// them answered at once (a memory:// store, misses answered inline), walks to the bottom
/// without deepening the stack per level. Before, each level was a nested synchronous await and
/// a deep enough chain overflowed the pool thread's stack, killing the process.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
public sealed class DeepTreeReadaheadTests
{
    private const int Depth = 20_000;

    private static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);

    [Test]
    public async Task ReadaheadWalksAChainOfTwentyThousandDirectories()
    {
        await using StoreServices store = new StoreOpener().Open(StoreAddress.Memory);
        byte[] bottomContent = "at the bottom\n"u8.ToArray();
        byte[] topContent = "at the top\n"u8.ToArray();
        B3Digest bottomBlob = await PutBlobAsync(store, bottomContent);
        B3Digest topBlob = await PutBlobAsync(store, topContent);

        // d/d/d/.../d/bottom, and next to the first d a file whose open starts the walk.
        var directory = new Directory { Files = { new FileNode { Name = Bytes("bottom"), Digest = bottomBlob.ToByteString(), Size = (ulong)bottomContent.Length } } };
        await using (IDirectoryPutter putter = store.Directories.BeginPut())
        {
            for (int level = 0; level < Depth; level++)
            {
                B3Digest digest = await putter.PutAsync(directory);
                var parent = new Directory { Directories = { new DirectoryNode { Name = Bytes("d"), Digest = digest.ToByteString(), Size = DirectoryRules.Size(directory) } } };
                if (level == Depth - 1)
                    parent.Files.Add(new FileNode { Name = Bytes("a"), Digest = topBlob.ToByteString(), Size = (ulong)topContent.Length });
                directory = parent;
            }
            await putter.PutAsync(directory);
            await putter.CloseAsync();
        }
        string basename = TestTreeWriter.Basename("deep");
        await store.PathInfos.PutAsync(new PathInfo
        {
            Node = new Node { Directory = new DirectoryNode { Name = Bytes(basename), Digest = DirectoryRules.Digest(directory).ToByteString(), Size = DirectoryRules.Size(directory) } },
        });

        var sink = new RecordingReplySink();
        var fs = new StoreFilesystem(store, sink, new StoreFilesystemOptions { AnswerMissesInline = true, PrefetchMaxDirectories = 0 }, new RecordingLogger());
        ulong root = Lookup(fs, sink, StoreFilesystem.RootInode, basename);
        ulong a = Lookup(fs, sink, root, "a");
        Open(fs, sink, a);

        DateTime giveUp = DateTime.UtcNow.AddMinutes(3);
        while ((fs.PendingReadaheads > 0 || fs.FilesReadAhead < 1) && DateTime.UtcNow < giveUp)
            await Task.Delay(20);
        Assert.That(fs.FilesReadAhead, Is.EqualTo(1), "the walk reached the file at the bottom of the chain");
        Assert.That(fs.PendingReadaheads, Is.Zero);
    }

    private static unsafe void Open(StoreFilesystem fs, RecordingReplySink sink, ulong inode)
    {
        FuseFileInfo info = default;
        FuseRequest open = sink.NewRequest();
        fs.Open(open, inode, &info);
        Assert.That(sink.WaitFor(open).Kind, Is.EqualTo("open"));
    }

    private static async Task<B3Digest> PutBlobAsync(StoreServices store, byte[] content)
    {
        BlobWriter writer = store.Blobs.OpenWrite();
        await writer.WriteAsync(content);
        return await writer.CloseAsync();
    }
}
