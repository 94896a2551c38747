using System.Collections.Concurrent;
using System.Text;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>Test double: a blob service that counts the opens of each blob and forwards them.</summary>
internal sealed class CountingBlobService(IBlobService inner) : IBlobService
{
    public ConcurrentDictionary<B3Digest, int> Opens { get; } = new();

    public int TotalOpens => Opens.Values.Sum();

    public ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default) => inner.StatAsync(digest, cancellationToken);

    public ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        Opens.AddOrUpdate(digest, 1, (_, count) => count + 1);
        return inner.OpenReadAsync(digest, cancellationToken);
    }

    public BlobWriter OpenWrite() => inner.OpenWrite();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>
/// Tree readahead (the first open in a directory opens the files a tree walker reads next) and
/// misses answered on the FUSE thread for stores on this machine.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class ReadaheadTests
{
    private TemporaryLocalStore _temporary = null!;
    private StoreServices _local = null!;
    private CountingBlobService _blobs = null!;
    private StoreServices _store = null!;
    private string _tree = null!;

    [SetUp]
    public async Task CreateStoreAsync()
    {
        _temporary = TemporaryLocalStore.Create("readahead");
        _local = _temporary.Store;
        _blobs = new CountingBlobService(_local.Blobs);
        _store = new StoreServices(_blobs, _local.Directories, _local.PathInfos);
        // a0..a4 then sub/ (b0..b2, deeper/c0) then z: the walk from a1 covers a2..a4, sub's files, deeper's, z.
        _tree = await new TestTreeWriter(_local).AddStorePathAsync("tree", new DirSpec(
            ("a0", FileSpec.Text("a0\n")), ("a1", FileSpec.Text("a1\n")), ("a2", FileSpec.Text("a2\n")),
            ("a3", FileSpec.Text("a3\n")), ("a4", FileSpec.Text("a4\n")),
            ("big", new FileSpec(new byte[3 << 20])),
            ("sub", new DirSpec(
                ("b0", FileSpec.Text("b0\n")), ("b1", FileSpec.Text("b1\n")), ("b2", FileSpec.Text("b2\n")),
                ("deeper", new DirSpec(("c0", FileSpec.Text("c0\n")))))),
            ("z", FileSpec.Text("z\n"))));
    }

    [TearDown]
    public async Task DeleteStoreAsync()
    {
        await _temporary.DisposeAsync();
    }

    private static void WaitForReadaheads(StoreFilesystem filesystem)
    {
        DateTime giveUp = DateTime.UtcNow.AddSeconds(30);
        while (filesystem.PendingReadaheads > 0 && DateTime.UtcNow < giveUp)
            Thread.Sleep(5);
        Assert.That(filesystem.PendingReadaheads, Is.Zero, "readahead finished");
    }

    /// <summary>Reads a file of the tree (checking its text, its name and a newline), waits for the readahead it started, and returns the files read ahead so far.</summary>
    private long ReadAndSettle(InProcessMount mount, params string[] path)
    {
        Assert.That(File.ReadAllText(mount.PathOf([_tree, .. path])), Is.EqualTo(path[^1] + "\n"));
        WaitForReadaheads(mount.Filesystem);
        return mount.Filesystem.FilesReadAhead;
    }

    [Test]
    public void TheFirstOpenInADirectoryOpensTheFilesAfterItDepthFirstAndLaterOpensFetchNothing()
    {
        using var mount = new InProcessMount(_store, new StoreFilesystemOptions { ReadaheadMaxFileBytes = 1 << 20 });
        // a2, a3, a4, sub/b0..b2, sub/deeper/c0, z; not a0 (before a1) and not big (over the size limit).
        Assert.That(ReadAndSettle(mount, "a1"), Is.EqualTo(8));
        int opensAfterReadahead = _blobs.TotalOpens;
        Assert.That(opensAfterReadahead, Is.EqualTo(9), "a1 itself and the 8 read ahead");

        foreach (string path in new[] { "a2", "a3", "a4", "sub/b0", "sub/b1", "sub/b2", "sub/deeper/c0", "z" })
            Assert.That(File.ReadAllText(mount.PathOf(_tree, path)), Is.EqualTo(Path.GetFileName(path) + "\n"), path);
        Assert.That(_blobs.TotalOpens, Is.EqualTo(opensAfterReadahead), "every file the walk reached was already open");

        // Each directory is walked once: opening more files starts nothing new.
        File.ReadAllText(mount.PathOf(_tree, "sub", "b2"));
        Assert.That(ReadAndSettle(mount, "a0"), Is.EqualTo(8));
    }

    [Test]
    public void AWalkThatFinishesItsDirectoryGoesOnInTheParentsAfterIt()
    {
        using var mount = new InProcessMount(_store, new StoreFilesystemOptions { ReadaheadMaxFileBytes = 1 << 20 });
        // The first open anywhere is sub/b1: its walk covers b2 and deeper/c0, then the tree's
        // entries after sub (z), where a tree walker goes next; never a0..a4, which come before sub.
        Assert.That(ReadAndSettle(mount, "sub", "b1"), Is.EqualTo(3), "b2, deeper/c0, z");
        int opens = _blobs.TotalOpens;
        Assert.That(File.ReadAllText(mount.PathOf(_tree, "z")), Is.EqualTo("z\n"));
        Assert.That(_blobs.TotalOpens, Is.EqualTo(opens), "z was open already");
    }

    [Test]
    public void AWalkFromTheDeepestDirectoryClimbsEveryLevel()
    {
        using var mount = new InProcessMount(_store, new StoreFilesystemOptions { ReadaheadMaxFileBytes = 1 << 20 });
        // deeper holds nothing after c0, sub nothing after deeper: only the tree's z is left.
        Assert.That(ReadAndSettle(mount, "sub", "deeper", "c0"), Is.EqualTo(1), "z");
    }

    [Test]
    public void ListingAndStattingATreeReadsNothingAhead()
    {
        using var mount = new InProcessMount(_store, new StoreFilesystemOptions());
        int entries = System.IO.Directory.EnumerateFileSystemEntries(mount.PathOf(_tree), "*", SearchOption.AllDirectories)
            .Select(path => (File.GetAttributes(path) & FileAttributes.Directory) != 0 ? 0 : new FileInfo(path).Length).Count();
        Assert.That(entries, Is.EqualTo(13));
        Assert.That(mount.Filesystem.FilesReadAhead, Is.Zero);
        Assert.That(_blobs.TotalOpens, Is.Zero, "find/ls -l never open a blob");
    }

    [Test]
    public void AWindowThatRunsOutLeavesTheRestToAWalkOfTheirOwn()
    {
        using var mount = new InProcessMount(_store, new StoreFilesystemOptions { ReadaheadWindowFiles = 2 });
        Assert.That(ReadAndSettle(mount, "a0"), Is.EqualTo(2), "a1, a2");
        // The tree's directory was given back when the window ran out: reaching a3 starts again from there.
        Assert.That(ReadAndSettle(mount, "a3"), Is.EqualTo(4), "then a4 and sub/b0");
    }

    [Test]
    public void TheNextWalkStartsWhereTheLastRanOutOnceTheReaderIsHalfwayThere()
    {
        using var mount = new InProcessMount(_store, new StoreFilesystemOptions { ReadaheadWindowFiles = 4 });
        Assert.That(ReadAndSettle(mount, "a0"), Is.EqualTo(4), "a1..a4, then the window ran out at big");
        Assert.That(ReadAndSettle(mount, "a1"), Is.EqualTo(4), "the reader has opened one of the four");
        // Two of four: the next walk starts where the first stopped, though the reader is still
        // far from there (the tree's own entries would start one only at a file near big).
        Assert.That(ReadAndSettle(mount, "a2"), Is.EqualTo(8), "sub/b0..b2 and sub/deeper/c0");
    }

    [Test]
    public void OpeningOneFileAgainAndAgainWalksNoFurther()
    {
        using var mount = new InProcessMount(_store, new StoreFilesystemOptions { ReadaheadWindowFiles = 2 });
        Assert.That(ReadAndSettle(mount, "a1"), Is.EqualTo(2), "a2, a3");
        // Only a first open of a file read ahead moves the walks on: a program reopening the
        // same few files does not read the rest of the tree ahead window after window.
        for (int i = 0; i < 10; i++)
            Assert.That(ReadAndSettle(mount, "a1"), Is.EqualTo(2));
        Assert.That(ReadAndSettle(mount, "a2"), Is.EqualTo(4), "halfway through a2, a3: a4 and sub/b0 next");
    }

    [Test]
    public void ListingADirectoryFetchesItsSubdirectoriesEntriesOneLevelAhead()
    {
        var directories = new CountingDirectoryService(_local.Directories);
        var store = new StoreServices(_blobs, directories, _local.PathInfos);
        using var mount = new InProcessMount(store, new StoreFilesystemOptions { PrefetchMaxDirectories = 0 });
        Assert.That(Libc.ListDirectory(mount.PathOf(_tree)).Errno, Is.Zero);
        WaitForReadaheads(mount.Filesystem);
        Assert.That(directories.Gets, Is.EqualTo(2), "the tree, then sub ahead of a walk entering it; not sub/deeper yet");
        Assert.That(Libc.ListDirectory(mount.PathOf(_tree, "sub")).Errno, Is.Zero);
        WaitForReadaheads(mount.Filesystem);
        Assert.That(directories.Gets, Is.EqualTo(3), "listing sub fetched nothing again, and started sub/deeper");
        Assert.That(_blobs.TotalOpens, Is.Zero, "no file contents for a listing");
    }

    [Test]
    public void OffMeansNoReadahead()
    {
        using var mount = new InProcessMount(_store, new StoreFilesystemOptions { ReadaheadConcurrency = 0 });
        File.ReadAllText(mount.PathOf(_tree, "a0"));
        Assert.That(mount.Filesystem.FilesReadAhead, Is.Zero);
        Assert.That(_blobs.TotalOpens, Is.EqualTo(1));
    }

    [Test]
    public unsafe void WithAStoreOnThisMachineAMissIsAnsweredBeforeTheHandlerReturns()
    {
        var sink = new RecordingReplySink();
        var filesystem = new StoreFilesystem(_store, sink, new StoreFilesystemOptions { AnswerMissesInline = true, PrefetchMaxDirectories = 0, ReadaheadConcurrency = 0 }, new RecordingLogger());
        FuseRequest root = sink.NewRequest();
        filesystem.Lookup(root, 1, Encoding.UTF8.GetBytes(_tree));
        ulong tree = sink.WaitFor(root).Ino;

        // The tree's Directory and a1's blob are both misses here; each reply is in before the call returns.
        FuseRequest lookup = sink.NewRequest();
        filesystem.Lookup(lookup, tree, "a1"u8);
        Assert.That(sink.HasReply(lookup), Is.True, "directory miss answered inline");
        ulong a1 = sink.Replies[lookup.Handle].Ino;

        FuseFileInfo info = default;
        FuseRequest open = sink.NewRequest();
        filesystem.Open(open, a1, &info);
        Assert.That(sink.HasReply(open), Is.True, "blob miss answered inline");
        Assert.That(sink.Replies[open.Handle].Kind, Is.EqualTo("open"));
        Assert.That(filesystem.PendingRequests, Is.Zero);
    }
}
