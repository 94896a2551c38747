using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store;
using TvixLowFs.Store.Import;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;
using Replies = TvixLowFs.Tests.Filesystem.RecordingReplySink;

namespace TvixLowFs.Tests.Performance;

/// <summary>
/// Content addressing in the inode table: the same directory or blob reached through two store
/// paths is one inode, and however many requests miss on it at once — from many threads, through
/// either path — the backend is asked once. The backend is a slow store double that holds every
/// get until released and counts the gets per digest.
/// </summary>
[TestFixture]
public sealed class SharedFetchTests
{
    private string _scratch = null!;
    private StoreServices _memory = null!;
    private SlowStoreDouble _slow = null!;
    private Replies _sink = null!;
    private StoreFilesystem _filesystem = null!;
    private ulong _sharedViaA, _sharedViaB, _blobViaA, _blobViaB;

    [SetUp]
    public async Task ImportTwoPathsWithCommonContentAsync()
    {
        _scratch = Path.Combine(Path.GetTempPath(), "tvixlowfs-sharedfetch-" + Guid.NewGuid().ToString("N"));
        _memory = new StoreOpener().Open(StoreAddress.Memory);
        var importer = new PathImporter(_memory);
        var names = new List<byte[]>();
        foreach (string tree in new[] { "a", "b" })
        {
            string root = Path.Combine(_scratch, tree);
            System.IO.Directory.CreateDirectory(Path.Combine(root, "shared"));
            for (int i = 0; i < 20; i++)
                await File.WriteAllTextAsync(Path.Combine(root, "shared", $"f{i:D2}"), $"{i}\n");
            await File.WriteAllTextAsync(Path.Combine(root, "blob"), "the same bytes in both paths\n");
            await File.WriteAllTextAsync(Path.Combine(root, "which"), tree);
            names.Add((await importer.ImportAsync(root)).BasenameBytes());
        }

        _slow = new SlowStoreDouble(_memory.Blobs, _memory.Directories);
        _sink = new Replies();
        _filesystem = new StoreFilesystem(new StoreServices(_slow, _slow, _memory.PathInfos), _sink, new StoreFilesystemOptions { PrefetchMaxDirectories = 0 }, NullLogger.Instance);
        ulong a = Lookup(StoreFilesystem.RootInode, names[0]);
        ulong b = Lookup(StoreFilesystem.RootInode, names[1]);
        _sharedViaA = Lookup(a, "shared"u8.ToArray());
        _sharedViaB = Lookup(b, "shared"u8.ToArray());
        _blobViaA = Lookup(a, "blob"u8.ToArray());
        _blobViaB = Lookup(b, "blob"u8.ToArray());
    }

    [TearDown]
    public async Task DeleteAsync()
    {
        _slow.Release();
        _filesystem.Destroy();
        await _memory.DisposeAsync();
        System.IO.Directory.Delete(_scratch, recursive: true);
    }

    private ulong Lookup(ulong parent, byte[] name)
    {
        FuseRequest request = _sink.NewRequest();
        _filesystem.Lookup(request, parent, name);
        Replies.Reply reply = _sink.WaitFor(request);
        Assert.That(reply.Kind, Is.EqualTo("entry"), $"lookup errno {reply.Errno}");
        return reply.Ino;
    }

    [Test]
    public unsafe void MissesOnOneDirectoryDigestShareOneFetchAcrossPathsAndThreads()
    {
        Assert.That(_sharedViaB, Is.EqualTo(_sharedViaA), "one inode per directory digest");
        B3Digest shared = _filesystem.Inodes.Get(_sharedViaA)!.Digest;
        _slow.Hold();

        // Lookups, opendirs and readdirs through both paths' entries, from four threads at once.
        var requests = new ConcurrentBag<(FuseRequest Request, string Expected)>();
        Parallel.For(0, 40, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            FuseRequest request = _sink.NewRequest();
            FuseFileInfo info = default;
            switch (i % 3)
            {
                case 0:
                    _filesystem.Lookup(request, _sharedViaA, System.Text.Encoding.ASCII.GetBytes($"f{i % 20:D2}"));
                    requests.Add((request, "entry"));
                    break;
                case 1:
                    _filesystem.OpenDir(request, _sharedViaB, &info);
                    requests.Add((request, "open"));
                    break;
                default:
                    _filesystem.ReadDirPlus(request, _sharedViaA, 4096, 0, &info);
                    requests.Add((request, "buf"));
                    break;
            }
        });
        Assert.That(requests.Any(r => _sink.HasReply(r.Request)), Is.False, "every request waits for the held fetch");

        _slow.Release();
        foreach ((FuseRequest request, string expected) in requests)
            Assert.That(_sink.WaitFor(request).Kind, Is.EqualTo(expected));
        Assert.That(_slow.DirectoryGets(shared), Is.EqualTo(1), "40 misses, one Directory fetch");
        Assert.That(_sink.DoubleReplies, Is.Empty);
    }

    [Test]
    public unsafe void MissesOnOneBlobShareOneOpenAcrossPathsAndThreads()
    {
        Assert.That(_blobViaB, Is.EqualTo(_blobViaA), "one inode per (blob digest, executable)");
        B3Digest blob = _filesystem.Inodes.Get(_blobViaA)!.Digest;
        _slow.Hold();

        var requests = new ConcurrentBag<(FuseRequest Request, string Expected)>();
        Parallel.For(0, 40, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            FuseRequest request = _sink.NewRequest();
            FuseFileInfo info = default;
            ulong inode = i % 2 == 0 ? _blobViaA : _blobViaB;
            if (i % 4 < 2)
            {
                _filesystem.Open(request, inode, &info);
                requests.Add((request, "open"));
            }
            else
            {
                _filesystem.Read(request, inode, 4096, 0, &info);
                requests.Add((request, "buf"));
            }
        });
        Assert.That(requests.Any(r => _sink.HasReply(r.Request)), Is.False, "every request waits for the held open");

        _slow.Release();
        foreach ((FuseRequest request, string expected) in requests)
        {
            Replies.Reply reply = _sink.WaitFor(request);
            Assert.That(reply.Kind, Is.EqualTo(expected));
            if (expected == "buf")
                Assert.That(reply.Data, Is.EqualTo("the same bytes in both paths\n"u8.ToArray()));
        }
        Assert.That(_slow.BlobOpens(blob), Is.EqualTo(1), "40 misses, one blob open");
        Assert.That(_sink.DoubleReplies, Is.Empty);
    }

    /// <summary>
    /// Test double: real blob and directory services behind a gate that, while held, makes every
    /// get and open wait; counts them per digest.
    /// </summary>
    private sealed class SlowStoreDouble(IBlobService blobs, IDirectoryService directories) : IBlobService, IDirectoryService
    {
        private readonly ConcurrentDictionary<B3Digest, int> _directoryGets = new();
        private readonly ConcurrentDictionary<B3Digest, int> _blobOpens = new();
        private volatile TaskCompletionSource _gate = Open();

        private static TaskCompletionSource Open()
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            gate.SetResult();
            return gate;
        }

        public void Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        public void Release() => _gate.TrySetResult();
        public int DirectoryGets(B3Digest digest) => _directoryGets.GetValueOrDefault(digest);
        public int BlobOpens(B3Digest digest) => _blobOpens.GetValueOrDefault(digest);

        async ValueTask<VerifiedDirectory?> IDirectoryService.GetAsync(B3Digest digest, CancellationToken cancellationToken)
        {
            _directoryGets.AddOrUpdate(digest, 1, (_, n) => n + 1);
            await _gate.Task.WaitAsync(cancellationToken);
            return await directories.GetAsync(digest, cancellationToken);
        }

        async ValueTask<BlobReader?> IBlobService.OpenReadAsync(B3Digest digest, CancellationToken cancellationToken)
        {
            _blobOpens.AddOrUpdate(digest, 1, (_, n) => n + 1);
            await _gate.Task.WaitAsync(cancellationToken);
            return await blobs.OpenReadAsync(digest, cancellationToken);
        }

        ValueTask<long?> IBlobService.StatAsync(B3Digest digest, CancellationToken cancellationToken) => blobs.StatAsync(digest, cancellationToken);
        BlobWriter IBlobService.OpenWrite() => blobs.OpenWrite();
        IAsyncEnumerable<VerifiedDirectory> IDirectoryService.GetRecursiveAsync(B3Digest root, CancellationToken cancellationToken) => directories.GetRecursiveAsync(root, cancellationToken);
        ValueTask<B3Digest> IDirectoryService.PutAsync(Directory directory, CancellationToken cancellationToken) => directories.PutAsync(directory, cancellationToken);
        IDirectoryPutter IDirectoryService.BeginPut() => directories.BeginPut();
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
