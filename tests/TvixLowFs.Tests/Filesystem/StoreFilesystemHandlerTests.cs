using System.Text;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.TestSupport;
using Directory = TvixLowFs.Protos.Castore.Directory;

using static TvixLowFs.Tests.Filesystem.HandlerRequests;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// The request handlers driven directly (a recording reply sink in place of the kernel) over a
/// real local:// store: what the kernel never lets through on a read-only mount, the sharing of
/// fetches, exactly one reply per request, lookup counting, and allocation-free hit paths.
/// </summary>
[TestFixture]
public sealed class StoreFilesystemHandlerTests
{
    private TemporaryLocalStore _temporary = null!;
    private StoreServices _local = null!;
    private GatedStore _gated = null!;
    private StoreServices _store = null!;
    private string _tree = null!;

    [SetUp]
    public async Task CreateStoreAsync()
    {
        _temporary = TemporaryLocalStore.Create("handler");
        _local = _temporary.Store;
        _gated = new GatedStore(_local.Directories, _local.PathInfos);
        _store = new StoreServices(_local.Blobs, _gated, _gated);
        var writer = new TestTreeWriter(_store);
        var many = Enumerable.Range(0, 50).Select(i => ($"n{i:D2}", (TreeNode)FileSpec.Text($"{i}\n"))).ToArray();
        _tree = await writer.AddStorePathAsync("tree", new DirSpec(
            ("dir", new DirSpec(many)),
            ("file", FileSpec.Text("contents of a file\n")),
            ("link", new LinkSpec("file"))));
    }

    [TearDown]
    public async Task DeleteStoreAsync()
    {
        await _temporary.DisposeAsync();
    }

    private (StoreFilesystem Filesystem, RecordingReplySink Sink, RecordingLogger Log) Create(bool showXattr = false)
    {
        var sink = new RecordingReplySink();
        var log = new RecordingLogger();
        return (new StoreFilesystem(_store, sink, new StoreFilesystemOptions { ShowXattr = showXattr, PrefetchMaxDirectories = 0 }, log), sink, log);
    }

    [Test]
    public unsafe void OpenRefusesDirectoriesAndWriteAccess()
    {
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create();
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong file = Lookup(fs, sink, tree, "file");
        ulong link = Lookup(fs, sink, tree, "link");

        int Open(ulong inode, int flags)
        {
            FuseFileInfo info = default;
            info.Flags = flags;
            FuseRequest request = sink.NewRequest();
            fs.Open(request, inode, &info);
            RecordingReplySink.Reply reply = sink.WaitFor(request);
            return reply.Kind == "open" ? 0 : reply.Errno;
        }

        Assert.Multiple(() =>
        {
            Assert.That(Open(tree, Libc.O_RDONLY), Is.EqualTo(Libc.EISDIR));
            Assert.That(Open(file, Libc.O_WRONLY), Is.EqualTo(Libc.EROFS));
            Assert.That(Open(file, Libc.O_RDWR), Is.EqualTo(Libc.EROFS));
            Assert.That(Open(file, Libc.O_RDONLY | Libc.O_TRUNC), Is.EqualTo(Libc.EROFS));
            Assert.That(Open(file, Libc.O_RDONLY | Libc.O_APPEND), Is.EqualTo(Libc.EROFS));
            Assert.That(Open(file, Libc.O_RDONLY | Libc.O_CREAT), Is.EqualTo(Libc.EROFS));
            Assert.That(Open(link, Libc.O_RDONLY), Is.Not.Zero);
            Assert.That(Open(file, Libc.O_RDONLY), Is.Zero);
        });
        RecordingReplySink.Reply opened = sink.Replies.Values.Single(r => r.Kind == "open");
        Assert.That(opened.FileInfo.KeepCache, Is.True, "keep_cache: content is immutable");
        Assert.That(sink.DoubleReplies, Is.Empty);
    }

    [Test]
    public void EveryModifyingOperationIsErofsButFsync()
    {
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create();
        foreach (FuseModifyOperation operation in Enum.GetValues<FuseModifyOperation>())
        {
            FuseRequest request = sink.NewRequest();
            fs.Modify(request, operation);
            // fsync and fsyncdir succeed, as on read-only ext4 and squashfs: there is nothing to write back.
            int expected = operation is FuseModifyOperation.Fsync or FuseModifyOperation.FsyncDir ? 0 : Libc.EROFS;
            Assert.That(sink.WaitFor(request), Is.EqualTo(new RecordingReplySink.Reply("err", Errno: expected)), operation.ToString());
        }
    }

    [Test]
    public void XattrsAreAbsentWithoutShowXattr()
    {
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create(showXattr: false);
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong file = Lookup(fs, sink, tree, "file");
        FuseRequest get = sink.NewRequest();
        fs.GetXattr(get, file, "user.tvix.castore.blob.digest"u8, 100);
        Assert.That(sink.WaitFor(get).Errno, Is.EqualTo(Libc.ENODATA));
        FuseRequest list = sink.NewRequest();
        fs.ListXattr(list, file, 0);
        Assert.That(sink.WaitFor(list), Is.EqualTo(new RecordingReplySink.Reply("xattr", Size: 0)));
    }

    [Test]
    public unsafe void ConcurrentMissesShareOneFetchAndHitsDoNotWaitForIt()
    {
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create();
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong file = Lookup(fs, sink, tree, "file");
        ulong dir = Lookup(fs, sink, tree, "dir");

        _gated.HoldDirectories();
        int getsBefore = _gated.DirectoryGets;
        var requests = Enumerable.Range(0, 20).Select(i =>
        {
            FuseRequest request = sink.NewRequest();
            fs.Lookup(request, dir, Encoding.UTF8.GetBytes($"n{i:D2}"));
            return request;
        }).ToList();

        // While the fetch is held, what is in memory is still answered at once.
        FuseRequest attr = sink.NewRequest();
        fs.GetAttr(attr, file, null);
        Assert.That(sink.HasReply(attr), Is.True, "answered synchronously");
        FuseRequest sibling = sink.NewRequest();
        fs.Lookup(sibling, tree, "link"u8);
        Assert.That(sink.HasReply(sibling), Is.True);
        Assert.That(requests.Any(sink.HasReply), Is.False, "misses wait for the fetch");

        _gated.ReleaseDirectories();
        foreach (FuseRequest request in requests)
            Assert.That(sink.WaitFor(request).Kind, Is.EqualTo("entry"));
        Assert.That(_gated.DirectoryGets - getsBefore, Is.EqualTo(1), "one fetch for twenty misses");
        Assert.That(sink.DoubleReplies, Is.Empty);
    }

    [Test]
    public void ConcurrentStorePathMissesShareOneFetch()
    {
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create();
        _gated.HoldPathInfos();
        var requests = Enumerable.Range(0, 10).Select(_ =>
        {
            FuseRequest request = sink.NewRequest();
            fs.Lookup(request, 1, Encoding.UTF8.GetBytes(_tree));
            return request;
        }).ToList();
        _gated.ReleasePathInfos();
        Assert.That(requests.Select(r => sink.WaitFor(r).Kind), Is.All.EqualTo("entry"));
        Assert.That(_gated.PathInfoGets, Is.EqualTo(1));

        // Found once, remembered: no more backend calls, also for a near-miss name.
        FuseRequest nearMiss = sink.NewRequest();
        fs.Lookup(nearMiss, 1, Encoding.UTF8.GetBytes(_tree + "x"));
        Assert.That(sink.WaitFor(nearMiss).Errno, Is.EqualTo(Libc.ENOENT));
        Assert.That(_gated.PathInfoGets, Is.EqualTo(1));
    }

    [Test]
    public void InvalidRootNamesNeverReachTheBackend()
    {
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create();
        foreach (string name in new[] { "x", "..", "not-a-store-path-at-all-but-long-enough-to-look", new string('0', 32), new string('0', 32) + "-" })
        {
            FuseRequest request = sink.NewRequest();
            fs.Lookup(request, 1, Encoding.UTF8.GetBytes(name));
            Assert.That(sink.WaitFor(request).Errno, Is.EqualTo(Libc.ENOENT), name);
        }
        Assert.That(_gated.PathInfoGets, Is.Zero);
    }

    [Test]
    public void ABackendFailureIsOneEioPerRequestAndOneLogLinePerFetch()
    {
        (StoreFilesystem fs, RecordingReplySink sink, RecordingLogger log) = Create();
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong dir = Lookup(fs, sink, tree, "dir");
        _gated.HoldDirectories();
        _gated.FailDirectories = true;
        var requests = Enumerable.Range(0, 5).Select(i =>
        {
            FuseRequest request = sink.NewRequest();
            fs.Lookup(request, dir, "n01"u8);
            return request;
        }).ToList();
        _gated.ReleaseDirectories();
        Assert.That(requests.Select(r => sink.WaitFor(r).Errno), Is.All.EqualTo(Libc.EIO));
        Assert.That(log.WaitForLines(l => l.Message.Contains("injected")), Has.Length.EqualTo(1));

        // Not remembered as failed: the next request tries again and succeeds.
        _gated.FailDirectories = false;
        Assert.That(Lookup(fs, sink, dir, "n01"), Is.Not.Zero);
        Assert.That(sink.DoubleReplies, Is.Empty);
    }

    [TestCase(false, 64)]
    [TestCase(false, 4096)]
    [TestCase(true, 200)]
    [TestCase(true, 4096)]
    public unsafe void ReaddirPagesFollowOffsetsExactly(bool plus, int pageSize)
    {
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create();
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong dir = Lookup(fs, sink, tree, "dir");
        var expected = new[] { ".", ".." }.Concat(Enumerable.Range(0, 50).Select(i => $"n{i:D2}")).ToList();

        List<(string Name, long Next, ulong Ino)> Page(long offset)
        {
            FuseFileInfo info = default;
            FuseRequest request = sink.NewRequest();
            if (plus)
                fs.ReadDirPlus(request, dir, (nuint)pageSize, offset, &info);
            else
                fs.ReadDir(request, dir, (nuint)pageSize, offset, &info);
            RecordingReplySink.Reply reply = sink.WaitFor(request);
            Assert.That(reply.Kind, Is.EqualTo("buf"));
            Assert.That(reply.Data!.Length, Is.LessThanOrEqualTo(pageSize));
            return ParseDirents(reply.Data!, plus);
        }

        // Follow the offsets page by page, as the kernel does.
        var listed = new List<string>();
        long next = 0;
        while (Page(next) is { Count: > 0 } page)
        {
            listed.AddRange(page.Select(e => e.Name));
            next = page[^1].Next;
        }
        Assert.That(listed, Is.EqualTo(expected));

        // And start at every offset directly.
        for (int offset = 0; offset <= expected.Count; offset++)
        {
            List<(string Name, long Next, ulong Ino)> page = Page(offset);
            if (offset == expected.Count)
            {
                Assert.That(page, Is.Empty);
                continue;
            }
            Assert.That(page[0].Name, Is.EqualTo(expected[offset]), $"offset {offset}");
            Assert.That(page[0].Next, Is.EqualTo(offset + 1));
        }
        Assert.That(sink.DoubleReplies, Is.Empty);
    }

    /// <summary>Decodes a readdir / readdirplus reply (struct fuse_dirent, after a 128-byte fuse_entry_out in plus mode).</summary>
    private static List<(string Name, long Next, ulong Ino)> ParseDirents(byte[] buffer, bool plus)
    {
        var entries = new List<(string, long, ulong)>();
        int position = 0;
        while (position < buffer.Length)
        {
            if (plus)
                position += 128;
            ReadOnlySpan<byte> dirent = buffer.AsSpan(position);
            ulong ino = BitConverter.ToUInt64(dirent);
            long next = BitConverter.ToInt64(dirent[8..]);
            int nameLength = (int)BitConverter.ToUInt32(dirent[16..]);
            entries.Add((Encoding.UTF8.GetString(dirent.Slice(24, nameLength)), next, ino));
            position += (24 + nameLength + 7) & ~7;
        }
        return entries;
    }

    [Test]
    public void DestroyAnswersEioWhatStillWaitsAfterTheGraceAndALateBackendAnswerAddsNoReply()
    {
        // Issue 14 gap D: after the grace the wait on the backend is given up and the request
        // answers EIO itself, before destroy returns (the session closes the channel then); the
        // backend answering later must not make a second reply.
        var sink = new RecordingReplySink();
        var fs = new StoreFilesystem(_store, sink, new StoreFilesystemOptions { ShutdownGrace = TimeSpan.FromMilliseconds(100) }, new RecordingLogger());
        _gated.HoldPathInfos();
        FuseRequest request = sink.NewRequest();
        fs.Lookup(request, 1, Encoding.UTF8.GetBytes(_tree));
        Assert.That(fs.PendingRequests, Is.EqualTo(1));
        fs.Destroy();
        Assert.That(sink.HasReply(request), Is.True, "answered before destroy returned");
        Assert.That(sink.WaitFor(request).Kind, Is.EqualTo("err"));
        Assert.That(sink.WaitFor(request).Errno, Is.EqualTo(Libc.EIO));
        Assert.That(fs.PendingRequests, Is.Zero);

        _gated.ReleasePathInfos();
        Thread.Sleep(200);
        Assert.That(sink.DoubleReplies, Is.Empty, "exactly one reply");
    }

    [Test]
    public void DestroyLetsPendingRequestsAnswerWithinTheGrace()
    {
        var sink = new RecordingReplySink();
        var fs = new StoreFilesystem(_store, sink, new StoreFilesystemOptions { ShutdownGrace = TimeSpan.FromSeconds(30) }, new RecordingLogger());
        _gated.HoldPathInfos();
        FuseRequest request = sink.NewRequest();
        fs.Lookup(request, 1, Encoding.UTF8.GetBytes(_tree));
        var destroy = Task.Run(fs.Destroy);
        _gated.ReleasePathInfos();
        Assert.That(sink.WaitFor(request).Kind, Is.EqualTo("entry"));
        Assert.That(destroy.Wait(TimeSpan.FromSeconds(30)), Is.True);
    }

    [Test]
    public void ABackendThatDoesNotAnswerInTimeGivesEio()
    {
        var sink = new RecordingReplySink();
        var log = new RecordingLogger();
        var fs = new StoreFilesystem(_store, sink, new StoreFilesystemOptions { BackendTimeout = TimeSpan.FromMilliseconds(200) }, log);
        _gated.HoldPathInfos();
        FuseRequest request = sink.NewRequest();
        fs.Lookup(request, 1, Encoding.UTF8.GetBytes(_tree));
        Assert.That(sink.WaitFor(request).Errno, Is.EqualTo(Libc.EIO));
        Assert.That(log.WaitForLines(_ => true).Single().Message, Does.StartWith("PathInfo "));
        _gated.ReleasePathInfos();

        FuseRequest retry = sink.NewRequest();
        fs.Lookup(retry, 1, Encoding.UTF8.GetBytes(_tree));
        Assert.That(sink.WaitFor(retry).Kind, Is.EqualTo("entry"), "a timed-out fetch is not remembered");
    }

    [Test]
    public unsafe void LookupCountsFollowLookupsReaddirplusAndForgets()
    {
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create();
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong file = Lookup(fs, sink, tree, "file");
        Lookup(fs, sink, tree, "file");
        InodeRecord record = fs.Inodes.Get(file)!;
        Assert.That(record.Lookups, Is.EqualTo(2));

        FuseFileInfo info = default;
        FuseRequest plus = sink.NewRequest();
        fs.ReadDirPlus(plus, tree, 4096, 0, &info);
        Assert.That(sink.WaitFor(plus).Kind, Is.EqualTo("buf"));
        Assert.That(record.Lookups, Is.EqualTo(3), "a readdirplus entry counts");

        fs.Forget(sink.NewRequest(), file, 2);
        Assert.That(record.Lookups, Is.EqualTo(1));
        fs.ForgetMulti(sink.NewRequest(), [new FuseForgetData { Ino = file, Nlookup = 1 }]);
        Assert.That(record.Lookups, Is.Zero);
        Assert.That(fs.Inodes.Get(file), Is.SameAs(record), "the number stays its content's");
        Assert.That(Lookup(fs, sink, tree, "file"), Is.EqualTo(file));
    }

    [Test]
    public unsafe void HitPathsAllocateNothing()
    {
        var sink = new CountingReplySink();
        var fs = new StoreFilesystem(_store, sink, new StoreFilesystemOptions { ShowXattr = true }, new RecordingLogger());
        // Warm up: the first requests miss (answered asynchronously); wait for each.
        byte[] treeName = Encoding.UTF8.GetBytes(_tree);

        ulong tree = WaitLookup(fs, sink, 1, treeName);
        ulong file = WaitLookup(fs, sink, tree, "file"u8.ToArray());
        ulong link = WaitLookup(fs, sink, tree, "link"u8.ToArray());
        ulong dir = WaitLookup(fs, sink, tree, "dir"u8.ToArray());
        WaitLookup(fs, sink, dir, "n07"u8.ToArray());
        FuseFileInfo info = default;
        int before = sink.Count;
        fs.Open(new FuseRequest(1), file, &info);
        SpinUntil(() => sink.Count > before);

        void Hits()
        {
            FuseFileInfo fileInfo = default;
            fs.Lookup(new FuseRequest(1), 1, treeName);
            fs.Lookup(new FuseRequest(1), dir, "n07"u8);
            fs.GetAttr(new FuseRequest(1), file, null);
            fs.ReadDir(new FuseRequest(1), dir, 4096, 0, &fileInfo);
            fs.ReadDirPlus(new FuseRequest(1), dir, 4096, 5, &fileInfo);
            fs.ReadLink(new FuseRequest(1), link);
            fs.Read(new FuseRequest(1), file, 4096, 3, &fileInfo);
            fs.GetXattr(new FuseRequest(1), file, "user.tvix.castore.blob.digest"u8, 100);
        }

        Hits();
        int count = sink.Count;
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
            Hits();
        long used = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.That(sink.Count - count, Is.EqualTo(8000), "every request answered synchronously");
        Assert.That(used, Is.Zero, "bytes allocated over 8000 hit requests");
    }

    private static ulong WaitLookup(StoreFilesystem fs, CountingReplySink sink, ulong parent, byte[] name)
    {
        int before = sink.Count;
        fs.Lookup(new FuseRequest(1), parent, name);
        SpinUntil(() => Volatile.Read(ref sink.Count) > before);
        Assert.That(sink.LastErrno, Is.Zero);
        return sink.LastIno;
    }

    private static void SpinUntil(Func<bool> condition)
    {
        DateTime giveUp = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > giveUp)
                throw new TimeoutException();
            Thread.Sleep(1);
        }
    }

    /// <summary>Test double: real directory and PathInfo services whose gets can be held back or made to throw.</summary>
    private sealed class GatedStore(IDirectoryService directories, IPathInfoService pathInfos) : IDirectoryService, IPathInfoService
    {
        private TaskCompletionSource _directoryGate = Completed(), _pathInfoGate = Completed();
        private int _directoryGets, _pathInfoGets;

        public int DirectoryGets => Volatile.Read(ref _directoryGets);
        public int PathInfoGets => Volatile.Read(ref _pathInfoGets);
        public volatile bool FailDirectories;

        private static TaskCompletionSource Completed()
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            gate.SetResult();
            return gate;
        }

        public void HoldDirectories() => _directoryGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        public void ReleaseDirectories() => _directoryGate.TrySetResult();
        public void HoldPathInfos() => _pathInfoGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        public void ReleasePathInfos() => _pathInfoGate.TrySetResult();

        async ValueTask<VerifiedDirectory?> IDirectoryService.GetAsync(B3Digest digest, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _directoryGets);
            await _directoryGate.Task.WaitAsync(cancellationToken);
            if (FailDirectories)
                throw new StoreUnavailableException($"injected failure for {digest}");
            return await directories.GetAsync(digest, cancellationToken);
        }

        IAsyncEnumerable<VerifiedDirectory> IDirectoryService.GetRecursiveAsync(B3Digest root, CancellationToken cancellationToken) => directories.GetRecursiveAsync(root, cancellationToken);
        ValueTask<B3Digest> IDirectoryService.PutAsync(Directory directory, CancellationToken cancellationToken) => directories.PutAsync(directory, cancellationToken);
        IDirectoryPutter IDirectoryService.BeginPut() => directories.BeginPut();

        async ValueTask<PathInfo?> IPathInfoService.GetAsync(StorePathHash hash, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _pathInfoGets);
            await _pathInfoGate.Task.WaitAsync(cancellationToken);
            return await pathInfos.GetAsync(hash, cancellationToken);
        }

        ValueTask<PathInfo> IPathInfoService.PutAsync(PathInfo pathInfo, CancellationToken cancellationToken) => pathInfos.PutAsync(pathInfo, cancellationToken);
        IAsyncEnumerable<PathInfo> IPathInfoService.ListAsync(CancellationToken cancellationToken) => pathInfos.ListAsync(cancellationToken);
        ValueTask<NarHash> IPathInfoService.CalculateNarAsync(Node node, CancellationToken cancellationToken) => pathInfos.CalculateNarAsync(node, cancellationToken);
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
