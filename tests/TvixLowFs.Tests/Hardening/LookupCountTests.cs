using System.Text;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Filesystem;

using static TvixLowFs.Tests.Filesystem.HandlerRequests;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Issue 14 point 3: a lookup count is only kept for an entry the kernel accepted. Handlers driven
/// directly over a real local:// store; the kernel that refuses a reply is a test double
/// (<see cref="RejectingReplySink"/>), since an interrupt cannot be timed against a real reply.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class LookupCountTests
{
    private TemporaryLocalStore _temporary = null!;
    private string _tree = null!;

    [SetUp]
    public async Task CreateStoreAsync()
    {
        _temporary = TemporaryLocalStore.Create("lookup-count");
        _tree = await new TestTreeWriter(_temporary.Store).AddStorePathAsync("tree", new DirSpec(
            ("a", FileSpec.Text("first\n")), ("b", FileSpec.Text("second\n")), ("sub", new DirSpec(("c", FileSpec.Text("third\n"))))));
    }

    [TearDown]
    public async Task DeleteStoreAsync() => await _temporary.DisposeAsync();

    private (StoreFilesystem Filesystem, RejectingReplySink Sink) Create()
    {
        var sink = new RejectingReplySink(new RecordingReplySink());
        var options = new StoreFilesystemOptions { PrefetchMaxDirectories = 0, ReadaheadConcurrency = 0 };
        return (new StoreFilesystem(_temporary.Store, sink, options, new RecordingLogger()), sink);
    }

    private static InodeRecord ChildRecord(StoreFilesystem fs, RecordingReplySink sink, ulong parent, string name)
    {
        ulong inode = Lookup(fs, sink, parent, name);
        InodeRecord record = fs.Inodes.Get(inode)!;
        // Give the probing lookup back, so only what the test does next is counted.
        FuseRequest forget = sink.NewRequest();
        fs.Forget(forget, inode, 1);
        return record;
    }

    [Test]
    public void ALookupReplyTheKernelRefusedIsNotCounted()
    {
        (StoreFilesystem fs, RejectingReplySink sink) = Create();
        ulong tree = Lookup(fs, sink.Recording, StoreFilesystem.RootInode, _tree);
        InodeRecord a = ChildRecord(fs, sink.Recording, tree, "a");
        Assert.That(a.Lookups, Is.Zero);

        sink.Rejecting = true;
        FuseRequest request = sink.Recording.NewRequest();
        fs.Lookup(request, tree, "a"u8);
        Assert.That(sink.Recording.WaitFor(request).Kind, Is.EqualTo("entry"));
        Assert.That(a.Lookups, Is.Zero, "the kernel never got the entry, so it will never forget it");
    }

    [Test]
    public void AStorePathLookupTheKernelRefusedIsNotCounted()
    {
        (StoreFilesystem fs, RejectingReplySink sink) = Create();
        ulong tree = Lookup(fs, sink.Recording, StoreFilesystem.RootInode, _tree);
        InodeRecord root = fs.Inodes.Get(tree)!;
        Assert.That(root.Lookups, Is.EqualTo(1));

        sink.Rejecting = true;
        FuseRequest request = sink.Recording.NewRequest();
        fs.Lookup(request, StoreFilesystem.RootInode, Encoding.UTF8.GetBytes(_tree));
        Assert.That(sink.Recording.WaitFor(request).Kind, Is.EqualTo("entry"));
        Assert.That(root.Lookups, Is.EqualTo(1), "only the accepted lookup is counted");
    }

    [Test]
    public unsafe void AReaddirplusPageTheKernelRefusedCountsNoEntry()
    {
        (StoreFilesystem fs, RejectingReplySink sink) = Create();
        ulong tree = Lookup(fs, sink.Recording, StoreFilesystem.RootInode, _tree);
        InodeRecord[] children = [ChildRecord(fs, sink.Recording, tree, "a"), ChildRecord(fs, sink.Recording, tree, "b"), ChildRecord(fs, sink.Recording, tree, "sub")];

        sink.Rejecting = true;
        FuseFileInfo info = default;
        FuseRequest request = sink.Recording.NewRequest();
        fs.ReadDirPlus(request, tree, 64 * 1024, 0, &info);
        Assert.That(sink.Recording.WaitFor(request).Kind, Is.EqualTo("buf"));
        Assert.That(children.Select(c => c.Lookups), Is.All.Zero, "no entry of a refused page is counted");

        // An accepted page counts each entry once.
        sink.Rejecting = false;
        request = sink.Recording.NewRequest();
        fs.ReadDirPlus(request, tree, 64 * 1024, 0, &info);
        Assert.That(sink.Recording.WaitFor(request).Kind, Is.EqualTo("buf"));
        Assert.That(children.Select(c => c.Lookups), Is.All.EqualTo(1));
    }

    [Test]
    public unsafe void AnOpenReplyTheKernelRefusedLeavesNoOpenFile()
    {
        (StoreFilesystem fs, RejectingReplySink sink) = Create();
        ulong tree = Lookup(fs, sink.Recording, StoreFilesystem.RootInode, _tree);
        ulong a = Lookup(fs, sink.Recording, tree, "a");
        InodeRecord record = fs.Inodes.Get(a)!;

        sink.Rejecting = true;
        FuseFileInfo info = default;
        FuseRequest request = sink.Recording.NewRequest();
        fs.Open(request, a, &info);
        Assert.That(sink.Recording.WaitFor(request).Kind, Is.EqualTo("open"));
        Assert.That(record.OpenFiles, Is.Zero, "no release will ever come for an open the kernel refused");
    }
}
