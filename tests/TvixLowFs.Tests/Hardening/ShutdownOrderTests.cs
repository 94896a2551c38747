using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Issue 14 point 4: at unmount, a request still waiting on the backend is answered through the
/// open channel during the grace period, before /dev/fuse is closed. A real mount in this
/// process; the slow backend is a gated double over a real local:// store.
/// </summary>
[TestFixture]
[CancelAfter(180_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class ShutdownOrderTests
{
    [Test]
    public async Task ARequestPendingAtUnmountIsAnsweredBeforeTheChannelCloses()
    {
        await using TemporaryLocalStore temporary = TemporaryLocalStore.Create("shutdown-order");
        string basename = await new TestTreeWriter(temporary.Store).AddStorePathAsync("pending", new DirSpec(("f", FileSpec.Text("answered at unmount\n"))));
        var blobs = new GatedBlobService(temporary.Store.Blobs);
        var store = new StoreServices(blobs, temporary.Store.Directories, temporary.Store.PathInfos);
        var mount = new InProcessMount(store, new StoreFilesystemOptions
        {
            ShutdownGrace = TimeSpan.FromSeconds(60),
            BackendTimeout = TimeSpan.FromSeconds(90),
            ReadaheadConcurrency = 0,
        });
        int fd = -1;
        try
        {
            string file = mount.PathOf(basename, "f");
            Assert.That(BoundedCall.Run(() => Libc.LStat(file, out _), "lookup"), Is.Zero);
            Task<(int Fd, int Errno)> open = Task.Run(() => Libc.Open(file, Libc.O_RDONLY));
            Assert.That(blobs.Entered.Wait(TimeSpan.FromSeconds(30)), Is.True, "the open reached the backend");

            Task unmounting = Task.Run(mount.Dispose);
            // The channel used to close as soon as the loop stopped, failing the open with
            // ENOTCONN; now it stays open while the grace period lasts. (Not a timing assertion
            // on the fixed code: the open stays blocked until the backend answers, however long.)
            bool finishedEarly = open.Wait(TimeSpan.FromSeconds(5));
            Assert.That(finishedEarly, Is.False, $"the open ended before the backend answered: errno {(finishedEarly ? open.Result.Errno : 0)}");
            blobs.Open();
            Assert.That(open.Wait(TimeSpan.FromSeconds(60)), Is.True, "the open was answered");
            (fd, int errno) = open.Result;
            Assert.That(errno, Is.Zero, "the pending open succeeded");
            Assert.That(unmounting.Wait(TimeSpan.FromSeconds(90)), Is.True, "the unmount finished");
            Assert.That(InProcessMount.IsMountPoint(mount.MountPoint), Is.False);
        }
        finally
        {
            blobs.Open();
            mount.Dispose();
            if (fd >= 0)
                Libc.Close(fd);
        }
    }

    [Test]
    public async Task RequestsStillWaitingAfterTheGraceAreAnsweredEioBeforeTheChannelCloses()
    {
        // A backend that never answers and ignores cancellation, a short grace and a backend
        // deadline far beyond the test: only the shutdown can end the two requests. They used to be
        // failed by the kernel when /dev/fuse closed (ENOTCONN); now the mount answers them EIO.
        await using TemporaryLocalStore temporary = TemporaryLocalStore.Create("shutdown-abandon");
        var writer = new TestTreeWriter(temporary.Store);
        string held = await writer.AddStorePathAsync("held", new DirSpec(("f", FileSpec.Text("never opened\n"))));
        string silent = await writer.AddStorePathAsync("silent", new DirSpec(("g", FileSpec.Text("never looked up\n"))));
        Assert.That(TvixLowFs.Store.Model.StorePath.TryParseBasename(silent.AsSpan(), out TvixLowFs.Store.Model.StorePathHash silentHash), Is.True);
        var blobs = new NeverAnsweringBlobService(temporary.Store.Blobs);
        var pathInfos = new NeverAnsweringPathInfoService(temporary.Store.PathInfos, silentHash);
        var store = new StoreServices(blobs, temporary.Store.Directories, pathInfos);
        var mount = new InProcessMount(store, new StoreFilesystemOptions
        {
            ShutdownGrace = TimeSpan.FromSeconds(2),
            BackendTimeout = TimeSpan.FromMinutes(10),
            ReadaheadConcurrency = 0,
        });
        Task<(int Fd, int Errno)>? open = null;
        try
        {
            string file = mount.PathOf(held, "f");
            Assert.That(BoundedCall.Run(() => Libc.LStat(file, out _), "lookup"), Is.Zero);
            open = Task.Run(() => Libc.Open(file, Libc.O_RDONLY));
            Task<int> lookup = Task.Run(() => Libc.LStat(mount.PathOf(silent), out _));
            Assert.That(blobs.Entered.Wait(TimeSpan.FromSeconds(30)), Is.True, "the open reached the backend");
            Assert.That(pathInfos.Entered.Wait(TimeSpan.FromSeconds(30)), Is.True, "the lookup reached the backend");
            Assert.That(open.IsCompleted || lookup.IsCompleted, Is.False, "both wait on the backend");

            Task unmounting = Task.Run(mount.Dispose);
            string Log() => string.Join("\n", mount.Log.Lines.Select(l => $"{l.Level}: {l.Message}"));
            Assert.That(open.Wait(TimeSpan.FromSeconds(60)), Is.True, () => $"the open was answered; unmount done: {unmounting.IsCompleted}, pending {mount.Filesystem.PendingRequests}\n{Log()}");
            Assert.That(lookup.Wait(TimeSpan.FromSeconds(60)), Is.True, () => "the lookup was answered\n" + Log());
            Assert.That(open.Result.Errno, Is.EqualTo(5), "the pending open got EIO from the mount (ENOTCONN is 107: the kernel's)");
            Assert.That(lookup.Result, Is.EqualTo(5), "the pending lookup got EIO from the mount");
            Assert.That(unmounting.Wait(TimeSpan.FromSeconds(60)), Is.True, "the unmount finished");
            Assert.That(InProcessMount.IsMountPoint(mount.MountPoint), Is.False);
            Assert.That(mount.Filesystem.PendingRequests, Is.Zero, "every tracked request was answered");
        }
        finally
        {
            mount.Dispose();
            if (open is { IsCompletedSuccessfully: true, Result.Fd: >= 0 })
                Libc.Close(open.Result.Fd);
        }
    }

    [Test]
    public async Task AReaddirWaitingOnAHungRootListingIsAnsweredEioBeforeTheChannelCloses()
    {
        // --list-root over a PathInfo service whose listing never yields and ignores cancellation:
        // the root readdir waits on it (its own deadline is far beyond the test) until the shutdown
        // gives up on it after the grace and it answers itself (the page so far: "." and ".."),
        // before the channel closes. The lister's next readdir comes after that and is the kernel's
        // to fail. Before, the readdir was still waiting when /dev/fuse closed: never answered by us.
        await using TemporaryLocalStore temporary = TemporaryLocalStore.Create("shutdown-listing");
        var pathInfos = new NeverListingPathInfoService(temporary.Store.PathInfos);
        var store = new StoreServices(temporary.Store.Blobs, temporary.Store.Directories, pathInfos);
        var mount = new InProcessMount(store, new StoreFilesystemOptions
        {
            ListRoot = true,
            ShutdownGrace = TimeSpan.FromSeconds(2),
            BackendTimeout = TimeSpan.FromMinutes(10),
            ReadaheadConcurrency = 0,
        });
        try
        {
            Task<string> listing = Task.Run(() =>
            {
                try
                {
                    return $"listed {System.IO.Directory.GetFileSystemEntries(mount.MountPoint).Length}";
                }
                catch (IOException e)
                {
                    return e.Message;
                }
            });
            Assert.That(pathInfos.Entered.Wait(TimeSpan.FromSeconds(30)), Is.True, "the readdir reached the listing");
            for (int i = 0; i < 100 && mount.Filesystem.PendingRequests == 0; i++)
                Thread.Sleep(20);
            Assert.That(mount.Filesystem.PendingRequests, Is.EqualTo(1), "the readdir is a request the mount still has to answer");

            var clock = System.Diagnostics.Stopwatch.StartNew();
            Task unmounting = Task.Run(mount.Dispose);
            Assert.That(listing.Wait(TimeSpan.FromSeconds(60)), Is.True, "the lister came back");
            Assert.That(unmounting.Wait(TimeSpan.FromSeconds(60)), Is.True, "the unmount finished");
            string Log() => $"after {clock.Elapsed.TotalSeconds:0.0} s: {listing.Result}\n" + string.Join("\n", mount.Log.Lines.Select(l => $"{l.Level}: {l.Message}"));
            Assert.That(mount.Filesystem.PendingRequests, Is.Zero, () => "the pending readdir was answered by the mount before the channel closed; " + Log());
            Assert.That(mount.Log.Lines.Any(l => l.Message.StartsWith("root listing", StringComparison.Ordinal)), Is.True, Log);
        }
        finally
        {
            mount.Dispose();
        }
    }
}
