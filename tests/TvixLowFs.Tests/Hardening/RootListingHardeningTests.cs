using System.Runtime.CompilerServices;
using System.Text;
using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using StorePath = TvixLowFs.Store.Model.StorePath;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.TestSupport;

using static TvixLowFs.Tests.Filesystem.HandlerRequests;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// The root listing (<c>--list-root</c>) under a hostile or failing PathInfo listing: issue 14
/// point 2 (releasedir while a readdir waits), point 3 (readdirplus entries counted before a
/// failure) and point 8 (a listing that drips invalid PathInfos). Handlers driven directly; the
/// listing is a scripted double over a real local:// store.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class RootListingHardeningTests
{
    private TemporaryLocalStore _temporary = null!;
    private string[] _basenames = null!;
    private PathInfo[] _pathInfos = null!;

    [SetUp]
    public async Task CreateStoreAsync()
    {
        _temporary = TemporaryLocalStore.Create("listing-hardening");
        var writer = new TestTreeWriter(_temporary.Store);
        _basenames = [await writer.AddStorePathAsync("first", FileSpec.Text("1\n")), await writer.AddStorePathAsync("second", FileSpec.Text("2\n"))];
        _pathInfos = new PathInfo[_basenames.Length];
        for (int i = 0; i < _basenames.Length; i++)
            _pathInfos[i] = (await _temporary.Store.PathInfos.GetAsync(StorePath.ParseBasename(_basenames[i]).Hash))!;
    }

    [TearDown]
    public async Task DeleteStoreAsync() => await _temporary.DisposeAsync();

    private (StoreFilesystem Filesystem, RecordingReplySink Sink, RecordingLogger Log, ScriptedListingPathInfoService Listing) Create(
        Func<CancellationToken, IAsyncEnumerable<PathInfo>> script, TimeSpan? backendTimeout = null)
    {
        var listing = new ScriptedListingPathInfoService(_temporary.Store.PathInfos, script);
        var store = new StoreServices(_temporary.Store.Blobs, _temporary.Store.Directories, listing);
        var sink = new RecordingReplySink();
        var log = new RecordingLogger();
        var options = new StoreFilesystemOptions
        {
            ListRoot = true,
            PrefetchMaxDirectories = 0,
            ReadaheadConcurrency = 0,
            BackendTimeout = backendTimeout ?? TimeSpan.FromSeconds(30),
        };
        return (new StoreFilesystem(store, sink, options, log), sink, log, listing);
    }

    private static unsafe ulong OpenRoot(StoreFilesystem fs, RecordingReplySink sink)
    {
        FuseFileInfo info = default;
        FuseRequest request = sink.NewRequest();
        fs.OpenDir(request, StoreFilesystem.RootInode, &info);
        RecordingReplySink.Reply reply = sink.WaitFor(request);
        Assert.That(reply.Kind, Is.EqualTo("open"));
        Assert.That(reply.FileInfo.Fh, Is.Not.Zero);
        return reply.FileInfo.Fh;
    }

    private static unsafe FuseRequest ReadRoot(StoreFilesystem fs, RecordingReplySink sink, ulong handle, long offset, bool plus)
    {
        FuseFileInfo info = default;
        info.Fh = handle;
        FuseRequest request = sink.NewRequest();
        if (plus)
            fs.ReadDirPlus(request, StoreFilesystem.RootInode, 64 * 1024, offset, &info);
        else
            fs.ReadDir(request, StoreFilesystem.RootInode, 64 * 1024, offset, &info);
        return request;
    }

    private static unsafe void ReleaseRoot(StoreFilesystem fs, RecordingReplySink sink, ulong handle)
    {
        FuseFileInfo info = default;
        info.Fh = handle;
        FuseRequest request = sink.NewRequest();
        fs.ReleaseDir(request, StoreFilesystem.RootInode, &info);
        Assert.That(sink.WaitFor(request).Kind, Is.EqualTo("err"));
    }

    private static async IAsyncEnumerable<PathInfo> Stalled(TaskCompletionSource started, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        started.TrySetResult();
        await Task.Delay(Timeout.Infinite, cancellationToken);
        yield break;
    }

    [Test]
    public void ReleasedirWhileReaddirsWaitOnAStalledListingAnswersEachOnce()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        (StoreFilesystem fs, RecordingReplySink sink, RecordingLogger log, _) = Create(token => Stalled(started, token));
        ulong handle = OpenRoot(fs, sink);
        FuseRequest first = ReadRoot(fs, sink, handle, 2, plus: false);
        Assert.That(started.Task.Wait(TimeSpan.FromSeconds(30)), Is.True, "the listing was asked");
        FuseRequest second = ReadRoot(fs, sink, handle, 2, plus: false); // waits for the first to let go of the listing

        // The reader is killed: the kernel releases the handle while both wait on the listing.
        ReleaseRoot(fs, sink, handle);

        Assert.Multiple(() =>
        {
            Assert.That(sink.WaitFor(first).Errno, Is.EqualTo(Libc.EIO), "the readdir holding the listing");
            Assert.That(sink.WaitFor(second).Errno, Is.EqualTo(Libc.EIO), "the readdir waiting for it");
            Assert.That(sink.DoubleReplies, Is.Empty);
        });
        Assert.That(SpinWait.SpinUntil(() => fs.PendingRequests == 0, TimeSpan.FromSeconds(30)), Is.True, "no continuation left");
        Assert.That(log.Lines.Where(l => l.Message.Contains("continuation failed", StringComparison.Ordinal)), Is.Empty);
    }

    private async IAsyncEnumerable<PathInfo> ValidThenFailing([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (PathInfo pathInfo in _pathInfos)
            yield return pathInfo;
        await Task.Yield();
        cancellationToken.ThrowIfCancellationRequested();
        throw new IOException("the listing broke off");
    }

    [Test]
    public void ReaddirplusEntriesBeforeAFailedListingAreCountedOnlyIfAnswered()
    {
        (StoreFilesystem fs, RecordingReplySink sink, _, _) = Create(ValidThenFailing);
        ulong handle = OpenRoot(fs, sink);
        RecordingReplySink.Reply reply = sink.WaitFor(ReadRoot(fs, sink, handle, 0, plus: true));
        Assert.That(reply.Kind, Is.AnyOf("buf", "err"));

        foreach (string basename in _basenames)
        {
            // What the kernel holds of each store path's inode: one reference if the page reached it.
            bool answered = reply.Kind == "buf" && reply.Data!.AsSpan().IndexOf(Encoding.UTF8.GetBytes(basename)) >= 0;
            ulong inode = Lookup(fs, sink, StoreFilesystem.RootInode, basename);
            Assert.That(fs.Inodes.Get(inode)!.Lookups, Is.EqualTo(answered ? 2 : 1),
                $"{basename}: counted {(answered ? "once by the page it was answered in" : "though its page was answered EIO")}, once by the lookup");
        }
        // The failure is not forgotten: a readdir after the answered entries reports it.
        if (reply.Kind == "buf")
            Assert.That(sink.WaitFor(ReadRoot(fs, sink, handle, 2 + _basenames.Length, plus: true)).Errno, Is.EqualTo(Libc.EIO));
        ReleaseRoot(fs, sink, handle);
    }

    private static PathInfo Invalid(int i) => new()
    {
        Node = new Node { Symlink = new SymlinkNode { Name = ByteString.CopyFromUtf8("not-a-store-path-" + i), Target = ByteString.CopyFromUtf8("x") } },
    };

    private static async IAsyncEnumerable<PathInfo> Dripping(TimeSpan every, int count, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (int i = 0; i < count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (every > TimeSpan.Zero)
                await Task.Delay(every, cancellationToken);
            yield return Invalid(i);
        }
    }

    [Test]
    public void AListingThatDripsInvalidPathInfosCannotHoldAReaddir()
    {
        // Each invalid PathInfo arrives well within the per-call deadline; 100,000 of them would take over an hour.
        (StoreFilesystem fs, RecordingReplySink sink, _, ScriptedListingPathInfoService listing) =
            Create(token => Dripping(TimeSpan.FromMilliseconds(40), 100_000, token), backendTimeout: TimeSpan.FromSeconds(3));
        ulong handle = OpenRoot(fs, sink);
        try
        {
            RecordingReplySink.Reply reply = sink.WaitFor(ReadRoot(fs, sink, handle, 2, plus: false));
            Assert.That(reply.Errno, Is.EqualTo(Libc.EIO), "no valid entry within the deadline");
            Assert.That(listing.Listed, Is.LessThan(100_000));
        }
        finally
        {
            ReleaseRoot(fs, sink, handle);
        }
    }

    [Test]
    public void AListingOfInvalidPathInfosAtFullSpeedIsCutOff()
    {
        (StoreFilesystem fs, RecordingReplySink sink, _, ScriptedListingPathInfoService listing) =
            Create(token => Dripping(TimeSpan.Zero, 10_000_000, token));
        ulong handle = OpenRoot(fs, sink);
        try
        {
            RecordingReplySink.Reply reply = sink.WaitFor(ReadRoot(fs, sink, handle, 2, plus: false));
            Assert.That(reply.Errno, Is.EqualTo(Libc.EIO), "no valid entry among the PathInfos one readdir may skip");
            Assert.That(listing.Listed, Is.LessThan(10_000_000));
        }
        finally
        {
            ReleaseRoot(fs, sink, handle);
        }
    }
}
