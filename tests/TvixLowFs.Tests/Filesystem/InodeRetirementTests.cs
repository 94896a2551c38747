using System.Collections.Concurrent;
using System.Text;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

using static TvixLowFs.Tests.Filesystem.HandlerRequests;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// Bounded memory: inodes the kernel has forgotten leave the inode table (with their entries, blob
/// and cached PathInfo root entry), the same content looked up again gets one live number, and a
/// lookup racing a forget never replies with a number that does not resolve to its content.
/// Handlers driven directly with a recording reply sink over a real local:// store.
/// </summary>
[TestFixture]
public sealed class InodeRetirementTests
{
    private TemporaryLocalStore _temporary = null!;
    private StoreServices _local = null!;
    private CountingPathInfoService _pathInfos = null!;
    private StoreServices _store = null!;
    private string _tree = null!;

    [SetUp]
    public async Task CreateStoreAsync()
    {
        _temporary = TemporaryLocalStore.Create("retire");
        _local = _temporary.Store;
        _pathInfos = new CountingPathInfoService(_local.PathInfos);
        _store = new StoreServices(_local.Blobs, _local.Directories, _pathInfos);
        var many = Enumerable.Range(0, 50).Select(i => ($"n{i:D2}", (TreeNode)FileSpec.Text($"{i}\n"))).ToArray();
        _tree = await new TestTreeWriter(_store).AddStorePathAsync("tree", new DirSpec(
            ("dir", new DirSpec(many)),
            ("file", FileSpec.Text("contents of a file\n")),
            ("link", new LinkSpec("file"))));
    }

    [TearDown]
    public async Task DeleteStoreAsync()
    {
        await _temporary.DisposeAsync();
    }

    private (StoreFilesystem Filesystem, RecordingReplySink Sink) Create(int forgottenInodes)
    {
        var sink = new RecordingReplySink();
        return (new StoreFilesystem(_store, sink, new StoreFilesystemOptions { ForgottenInodes = forgottenInodes }, new RecordingLogger()), sink);
    }

    [Test]
    public void ForgottenInodesLeaveTheTableAndComeBackUnderOneLiveNumber()
    {
        (StoreFilesystem fs, RecordingReplySink sink) = Create(forgottenInodes: 0);
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong file = Lookup(fs, sink, tree, "file");
        ulong dir = Lookup(fs, sink, tree, "dir");
        Lookup(fs, sink, dir, "n07");
        // tree's 3 children + tree + dir's 50 children.
        Assert.That(fs.Inodes.Count, Is.EqualTo(54));
        B3Digest fileDigest = fs.Inodes.Get(file)!.Digest;

        fs.Forget(sink.NewRequest(), file, 1);
        Assert.That(fs.Inodes.Get(file), Is.Null, "the forgotten record is gone");
        Assert.That(fs.Inodes.Count, Is.EqualTo(53));

        ulong again = Lookup(fs, sink, tree, "file");
        Assert.That(fs.Inodes.Get(again), Is.Not.Null);
        Assert.That(fs.Inodes.Get(again)!.Digest, Is.EqualTo(fileDigest));
        Assert.That(Lookup(fs, sink, tree, "file"), Is.EqualTo(again), "one live number per content");
        Assert.That(fs.Inodes.Count, Is.EqualTo(54));

        // A directory takes its entries with it, and the children nobody references (49 never
        // looked up; n07 still is).
        fs.Forget(sink.NewRequest(), dir, 1);
        Assert.That(fs.Inodes.Get(dir), Is.Null);
        Assert.That(fs.Inodes.Count, Is.EqualTo(54 - 50));
        ulong dirAgain = Lookup(fs, sink, tree, "dir");
        Assert.That(Lookup(fs, sink, dirAgain, "n08"), Is.Not.Zero, "its entries are fetched again");
    }

    [Test]
    public void AForgottenStorePathDropsItsCachedPathInfo()
    {
        (StoreFilesystem fs, RecordingReplySink sink) = Create(forgottenInodes: 0);
        ulong tree = Lookup(fs, sink, 1, _tree);
        Lookup(fs, sink, 1, _tree);
        Assert.That(_pathInfos.Gets, Is.EqualTo(1));
        // The root lookup started the closure prefetch; let it finish so it adds no record after the forget.
        DateTime giveUp = DateTime.UtcNow.AddSeconds(30);
        while (fs.PendingPrefetches > 0 && DateTime.UtcNow < giveUp)
            Thread.Sleep(5);

        fs.ForgetMulti(sink.NewRequest(), [new FuseForgetData { Ino = tree, Nlookup = 2 }]);
        Assert.That(fs.Inodes.Get(tree), Is.Null);
        Assert.That(fs.Inodes.Count, Is.Zero, "the store path's root took its children with it");

        ulong again = Lookup(fs, sink, 1, _tree);
        Assert.That(_pathInfos.Gets, Is.EqualTo(2), "the PathInfo was not kept for a forgotten root");
        Assert.That(Lookup(fs, sink, again, "file"), Is.Not.Zero);
    }

    [Test]
    public void AClosurePrefetchStopsWhenItsRootIsForgotten()
    {
        var directories = new CountingDirectoryService(_local.Directories) { PauseRecursiveAfter = 1 };
        var sink = new RecordingReplySink();
        var fs = new StoreFilesystem(new StoreServices(_local.Blobs, directories, _pathInfos), sink,
            new StoreFilesystemOptions { ForgottenInodes = 0 }, new RecordingLogger());
        ulong tree = Lookup(fs, sink, 1, _tree);
        // The prefetch has taken the root's Directory (its entries are records now) and waits for dir's.
        Assert.That(directories.RecursivePaused.Task.Wait(TimeSpan.FromSeconds(30)), Is.True, "the prefetch streamed the root");
        fs.Forget(sink.NewRequest(), tree, 1);
        Assert.That(fs.Inodes.Count, Is.Zero, "the root took its entries with it");

        directories.RecursiveResume.SetResult();
        DateTime giveUp = DateTime.UtcNow.AddSeconds(30);
        while (fs.PendingPrefetches > 0 && DateTime.UtcNow < giveUp)
            Thread.Sleep(5);
        Assert.That(fs.PendingPrefetches, Is.Zero);
        Assert.That(fs.Inodes.Count, Is.Zero, "dir's 50 entries were not built for a forgotten store path");
    }

    [Test]
    public void RecentlyForgottenInodesWaitInTheQueue()
    {
        (StoreFilesystem fs, RecordingReplySink sink) = Create(forgottenInodes: 2);
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong dir = Lookup(fs, sink, tree, "dir");
        ulong[] children = new[] { "n00", "n01", "n02" }.Select(n => Lookup(fs, sink, dir, n)).ToArray();
        foreach (ulong child in children)
            fs.Forget(sink.NewRequest(), child, 1);

        Assert.That(fs.Inodes.Get(children[0]), Is.Null, "pushed out of the queue by two more recent ones");
        Assert.That(fs.Inodes.Get(children[1]), Is.Not.Null);
        Assert.That(fs.Inodes.Get(children[2]), Is.Not.Null);
        Assert.That(Lookup(fs, sink, dir, "n02"), Is.EqualTo(children[2]), "a queued inode keeps its number");
        Assert.That(Lookup(fs, sink, dir, "n00"), Is.Not.EqualTo(children[0]));
    }

    [Test]
    public unsafe void AFileForgottenWhileOpenGoesAtItsRelease()
    {
        (StoreFilesystem fs, RecordingReplySink sink) = Create(forgottenInodes: 0);
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong file = Lookup(fs, sink, tree, "file");
        FuseFileInfo info = default;
        FuseRequest open = sink.NewRequest();
        fs.Open(open, file, &info);
        Assert.That(sink.WaitFor(open).Kind, Is.EqualTo("open"));

        fs.Forget(sink.NewRequest(), file, 1);
        Assert.That(fs.Inodes.Get(file), Is.Not.Null, "still open");
        FuseRequest read = sink.NewRequest();
        fs.Read(read, file, 4096, 0, &info);
        Assert.That(sink.WaitFor(read).Kind, Is.EqualTo("data"));

        FuseRequest release = sink.NewRequest();
        fs.Release(release, file, &info);
        Assert.That(sink.WaitFor(release).Errno, Is.Zero);
        Assert.That(fs.Inodes.Get(file), Is.Null);
    }

    [Test]
    public void NumbersRetiredInBulkFreeTheirPartOfTheNumberArray()
    {
        (StoreFilesystem fs, RecordingReplySink sink) = Create(forgottenInodes: 0);
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong dir = Lookup(fs, sink, tree, "dir");
        ulong last = 0;
        for (int i = 0; i < 3000; i++)
        {
            last = Lookup(fs, sink, dir, "n07");
            fs.Forget(sink.NewRequest(), last, 1);
        }
        Assert.That(last, Is.GreaterThan(3000UL), "each cycle took a fresh number");
        Assert.That(fs.Inodes.ChunkCount, Is.LessThanOrEqualTo(2), "only the first chunk (live records) and the one being handed out");
        Assert.That(Lookup(fs, sink, dir, "n08"), Is.Not.Zero);
        Assert.That(fs.Inodes.Get(tree), Is.Not.Null);
    }

    /// <summary>
    /// Like the kernel: every entry reply is a reference held until this worker forgets it, so in
    /// between its number must resolve to a record of the same content. Workers race lookups,
    /// readdirplus pages and forgets of the same content with no forgotten-inode queue.
    /// </summary>
    [Test]
    public unsafe void LookupsRacingForgetsNeverReplyWithADeadNumber()
    {
        (StoreFilesystem fs, RecordingReplySink sink) = Create(forgottenInodes: 0);
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong dir = Lookup(fs, sink, tree, "dir");
        ulong first = Lookup(fs, sink, dir, "n07");
        B3Digest expected = fs.Inodes.Get(first)!.Digest;
        fs.Forget(sink.NewRequest(), first, 1);
        Assert.That(fs.Inodes.Get(first), Is.Null);
        var failures = new ConcurrentQueue<string>();
        var numbers = new ConcurrentDictionary<ulong, byte>();
        Thread[] workers = Enumerable.Range(0, 4).Select(w => new Thread(() =>
        {
            for (int i = 0; i < 5000 && failures.IsEmpty; i++)
            {
                FuseRequest lookup = sink.NewRequest();
                fs.Lookup(lookup, dir, "n07"u8);
                RecordingReplySink.Reply reply = sink.WaitFor(lookup);
                if (reply.Kind != "entry")
                {
                    failures.Enqueue($"lookup answered {reply.Kind} {reply.Errno}");
                    continue;
                }
                numbers.TryAdd(reply.Ino, 0);
                if (fs.Inodes.Get(reply.Ino) is not { IsRetired: false } record || record.Digest != expected)
                    failures.Enqueue($"inode {reply.Ino} does not resolve to n07 while referenced");
                FuseRequest getattr = sink.NewRequest();
                fs.GetAttr(getattr, reply.Ino, null);
                if (sink.WaitFor(getattr) is not { Kind: "attr" } attr || attr.Ino != reply.Ino)
                    failures.Enqueue($"getattr of referenced inode {reply.Ino} failed");
                fs.Forget(sink.NewRequest(), reply.Ino, 1);
            }
        })).ToArray();
        foreach (Thread worker in workers)
            worker.Start();
        foreach (Thread worker in workers)
            worker.Join();

        Assert.That(failures, Is.Empty);
        Assert.That(sink.DoubleReplies, Is.Empty);
        Assert.That(numbers.Keys.Where(n => fs.Inodes.Get(n) is not null), Is.Empty, "every forgotten number left the table");
        Assert.That(numbers.Keys, Does.Not.Contain(first));
        Assert.That(fs.Inodes.Get(Lookup(fs, sink, dir, "n07"))!.Digest, Is.EqualTo(expected));
    }
}
