using System.Text;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Store;
using TvixLowFs.Store.Services;

using static TvixLowFs.Tests.Filesystem.HandlerRequests;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// The background prefetch of a store path's Directory closure (one GetRecursive at its first
/// lookup): requests below it are answered without a Get of their own, a request racing the stream
/// waits for it rather than fetching twice, and a prefetch that stops (bound, failure, unmount)
/// never fails a request. Handlers driven directly over a real local:// store, through a
/// counting directory service double.
/// </summary>
[TestFixture]
public sealed class PrefetchTests
{
    private TemporaryLocalStore _temporary = null!;
    private StoreServices _local = null!;
    private CountingDirectoryService _directories = null!;
    private StoreServices _store = null!;
    private string _tree = null!;

    [SetUp]
    public async Task CreateStoreAsync()
    {
        _temporary = TemporaryLocalStore.Create("prefetch");
        _local = _temporary.Store;
        _directories = new CountingDirectoryService(_local.Directories);
        _store = new StoreServices(_local.Blobs, _directories, _local.PathInfos);
        // root → a, b, c → each with sub → file: 7 directories.
        TreeNode Branch(string tag) => new DirSpec(("sub", new DirSpec(("file", FileSpec.Text(tag + "\n")))), ("top", FileSpec.Text(tag)));
        _tree = await new TestTreeWriter(_store).AddStorePathAsync("closure", new DirSpec(
            ("a", Branch("a")), ("b", Branch("b")), ("c", Branch("c"))));
    }

    [TearDown]
    public async Task DeleteStoreAsync()
    {
        await _temporary.DisposeAsync();
    }

    private (StoreFilesystem Filesystem, RecordingReplySink Sink, RecordingLogger Log) Create(int maxDirectories = 4096)
    {
        var sink = new RecordingReplySink();
        var log = new RecordingLogger();
        var options = new StoreFilesystemOptions { PrefetchMaxDirectories = maxDirectories, ShutdownGrace = TimeSpan.FromMilliseconds(100) };
        return (new StoreFilesystem(_store, sink, options, log), sink, log);
    }

    private static void WaitForPrefetches(StoreFilesystem filesystem)
    {
        DateTime giveUp = DateTime.UtcNow.AddSeconds(30);
        while (filesystem.PendingPrefetches > 0)
        {
            if (DateTime.UtcNow > giveUp)
                throw new TimeoutException("the prefetch did not finish");
            Thread.Sleep(5);
        }
    }

    /// <summary>Looks up every file of the tree (and lists a directory); returns the number of lookups made.</summary>
    private static unsafe void WalkTree(StoreFilesystem fs, RecordingReplySink sink, ulong root)
    {
        foreach (string branch in new[] { "a", "b", "c" })
        {
            ulong dir = Lookup(fs, sink, root, branch);
            ulong sub = Lookup(fs, sink, dir, "sub");
            Lookup(fs, sink, sub, "file");
            FuseFileInfo info = default;
            FuseRequest list = sink.NewRequest();
            fs.ReadDirPlus(list, dir, 4096, 0, &info);
            Assert.That(sink.WaitFor(list).Kind, Is.EqualTo("buf"));
        }
    }

    [Test]
    public void TheFirstLookupOfAStorePathPrefetchesItsClosureInOneCall()
    {
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create();
        ulong root = Lookup(fs, sink, 1, _tree);
        WaitForPrefetches(fs);
        WalkTree(fs, sink, root);

        Assert.That(_directories.RecursiveGets, Is.EqualTo(1));
        Assert.That(_directories.Streamed, Is.EqualTo(7));
        Assert.That(_directories.Gets, Is.Zero, "every directory came from the prefetch");
        Lookup(fs, sink, 1, _tree);
        Assert.That(_directories.RecursiveGets, Is.EqualTo(1), "a known store path is not prefetched again");
    }

    [Test]
    public void ARequestRacingThePrefetchWaitsForItInsteadOfFetchingAgain()
    {
        _directories.RecursiveGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create();
        ulong root = Lookup(fs, sink, 1, _tree);
        FuseRequest lookup = sink.NewRequest();
        fs.Lookup(lookup, root, "b"u8);
        Assert.That(sink.HasReply(lookup), Is.False, "the root's Directory is on its way in the stream");

        _directories.RecursiveGate.SetResult();
        Assert.That(sink.WaitFor(lookup).Kind, Is.EqualTo("entry"));
        WaitForPrefetches(fs);
        WalkTree(fs, sink, root);
        Assert.That(_directories.Gets, Is.Zero);
        Assert.That(_directories.RecursiveGets, Is.EqualTo(1));
    }

    [Test]
    public void ABoundedPrefetchLeavesTheRestToRequests()
    {
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create(maxDirectories: 2);
        ulong root = Lookup(fs, sink, 1, _tree);
        WaitForPrefetches(fs);
        Assert.That(_directories.Gets, Is.Zero);

        WalkTree(fs, sink, root);
        // root and a came with the prefetch (it stopped at 2); b, c and the three subs were fetched.
        Assert.That(_directories.Gets, Is.EqualTo(5));
    }

    [Test]
    public void AFailedPrefetchNeverFailsARequest()
    {
        _directories.FailRecursiveAfter = 1;
        (StoreFilesystem fs, RecordingReplySink sink, RecordingLogger log) = Create();
        ulong root = Lookup(fs, sink, 1, _tree);
        WaitForPrefetches(fs);
        WalkTree(fs, sink, root);

        Assert.That(_directories.Gets, Is.EqualTo(6), "everything but the root was fetched by the requests");
        Assert.That(log.Lines.Where(l => l.Message.Contains("prefetch") && l.Message.Contains("injected")).Select(l => l.Level),
            Is.EqualTo(new[] { Microsoft.Extensions.Logging.LogLevel.Debug }));
        Assert.That(sink.DoubleReplies, Is.Empty);
    }

    [Test]
    public void UnmountCancelsARunningPrefetch()
    {
        _directories.RecursiveGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create();
        Lookup(fs, sink, 1, _tree);
        Assert.That(fs.PendingPrefetches, Is.EqualTo(1));

        fs.Destroy();
        WaitForPrefetches(fs);
        Assert.That(_directories.Streamed, Is.Zero);
    }
}
