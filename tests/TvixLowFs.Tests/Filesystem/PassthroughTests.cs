using System.IO.MemoryMappedFiles;
using System.Text;
using Microsoft.Win32.SafeHandles;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Store;
using TvixLowFs.Store.Services;
using TvixLowFs.TestSupport;

using static TvixLowFs.Tests.Filesystem.HandlerRequests;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// Test double for the kernel's backing-file registry: hands out ids (or a chosen -errno) and
/// records what was registered and closed, so the open handler's passthrough decisions can be
/// checked without a mount.
/// </summary>
internal sealed class BackingFilesDouble : IFuseBackingFiles
{
    private int _nextId;

    public bool Enabled { get; set; } = true;

    /// <summary>0: registrations succeed; otherwise every registration answers -<c>RefuseWith</c>.</summary>
    public int RefuseWith { get; set; }

    public List<int> Opened { get; } = [];

    public List<int> Closed { get; } = [];

    public int Open(SafeFileHandle file)
    {
        Assert.That(file.IsInvalid, Is.False, "a backing file is an open descriptor");
        lock (Opened)
        {
            if (RefuseWith != 0)
            {
                Opened.Add(-RefuseWith);
                return -RefuseWith;
            }
            int id = ++_nextId;
            Opened.Add(id);
            return id;
        }
    }

    public void Close(int backingId)
    {
        lock (Closed)
            Closed.Add(backingId);
    }
}

/// <summary>
/// Kernel passthrough: the open handler's per-inode decision (handlers driven directly), and real
/// mounts where the kernel reads local blob files itself.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class PassthroughTests
{
    private TemporaryLocalStore _temporary = null!;
    private StoreServices _local = null!;
    private string _tree = null!;
    private byte[] _big = null!;

    [SetUp]
    public async Task CreateStoreAsync()
    {
        _temporary = TemporaryLocalStore.Create("passthrough");
        _local = _temporary.Store;
        _big = new byte[3 << 20];
        new Random(7).NextBytes(_big);
        _tree = await new TestTreeWriter(_local).AddStorePathAsync("tree", new DirSpec(
            ("a", FileSpec.Text("first file\n")),
            ("b", FileSpec.Text("second file\n")),
            ("big", new FileSpec(_big)),
            ("run", FileSpec.Text("#!/bin/sh\necho ran\n", executable: true))));
    }

    [TearDown]
    public async Task DeleteStoreAsync()
    {
        await _temporary.DisposeAsync();
    }

    private static unsafe RecordingReplySink.Reply Open(StoreFilesystem filesystem, RecordingReplySink sink, ulong inode)
    {
        FuseFileInfo info = default;
        FuseRequest request = sink.NewRequest();
        filesystem.Open(request, inode, &info);
        return sink.WaitFor(request);
    }

    private static unsafe void Release(StoreFilesystem filesystem, RecordingReplySink sink, ulong inode)
    {
        FuseFileInfo info = default;
        FuseRequest request = sink.NewRequest();
        filesystem.Release(request, inode, &info);
        sink.WaitFor(request);
    }

    private (StoreFilesystem Filesystem, RecordingReplySink Sink, RecordingLogger Log) Create(IFuseBackingFiles backingFiles, StoreServices? store = null, int maxIdleLocalBlobs = 1024)
    {
        var sink = new RecordingReplySink();
        var log = new RecordingLogger();
        var options = new StoreFilesystemOptions { BackingFiles = backingFiles, PrefetchMaxDirectories = 0, MaxIdleLocalBlobs = maxIdleLocalBlobs };
        return (new StoreFilesystem(store ?? _local, sink, options, log), sink, log);
    }

    [Test]
    public void EveryOpenOfAnInodeNamesTheOneBackingFileRegisteredForIt()
    {
        var backing = new BackingFilesDouble();
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create(backing);
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong a = Lookup(fs, sink, tree, "a");
        ulong b = Lookup(fs, sink, tree, "b");

        RecordingReplySink.Reply first = Open(fs, sink, a);
        RecordingReplySink.Reply second = Open(fs, sink, a);
        RecordingReplySink.Reply other = Open(fs, sink, b);

        Assert.Multiple(() =>
        {
            Assert.That(first.Kind, Is.EqualTo("open-passthrough"));
            Assert.That(second, Is.EqualTo(first with { }), "the second open reuses the first's backing id");
            Assert.That(other.Kind, Is.EqualTo("open-passthrough"));
            Assert.That(other.BackingId, Is.Not.EqualTo(first.BackingId));
            Assert.That(first.FileInfo.Noflush, Is.True, "nothing to flush on close");
            Assert.That(backing.Opened, Is.EqualTo(new[] { first.BackingId, other.BackingId }), "one registration per blob");
        });
    }

    [Test]
    public void ForgettingTheInodeClosesItsBackingIdAndALaterOpenRegistersAgain()
    {
        var backing = new BackingFilesDouble();
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create(backing);
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong a = Lookup(fs, sink, tree, "a");
        int id = Open(fs, sink, a).BackingId;
        Release(fs, sink, a);

        FuseRequest forget = sink.NewRequest();
        fs.Forget(forget, a, 1);
        Assert.That(backing.Closed, Is.EqualTo(new[] { id }));

        ulong again = Lookup(fs, sink, tree, "a");
        RecordingReplySink.Reply reopened = Open(fs, sink, again);
        Assert.That(reopened.Kind, Is.EqualTo("open-passthrough"));
        Assert.That(reopened.BackingId, Is.Not.EqualTo(id));
    }

    [Test]
    public void ALastReleaseBeyondTheIdleBudgetClosesTheBackingId()
    {
        var backing = new BackingFilesDouble();
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create(backing, maxIdleLocalBlobs: 0);
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong a = Lookup(fs, sink, tree, "a");
        int id = Open(fs, sink, a).BackingId;
        Open(fs, sink, a);
        Release(fs, sink, a);
        Assert.That(backing.Closed, Is.Empty, "a file is still open on it");
        Release(fs, sink, a);
        Assert.That(backing.Closed, Is.EqualTo(new[] { id }));
        Assert.That(Open(fs, sink, a).Kind, Is.EqualTo("open-passthrough"), "the inode stays in passthrough mode with a new registration");
    }

    [Test]
    public void NoPrivilegeTurnsPassthroughOffForTheMountAndOpensStillSucceed()
    {
        var backing = new BackingFilesDouble { RefuseWith = Libc.EPERM };
        (StoreFilesystem fs, RecordingReplySink sink, RecordingLogger log) = Create(backing);
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong a = Lookup(fs, sink, tree, "a");
        ulong b = Lookup(fs, sink, tree, "b");

        Assert.That(Open(fs, sink, a).Kind, Is.EqualTo("open"));
        Assert.That(Open(fs, sink, b).Kind, Is.EqualTo("open"));
        Assert.That(Open(fs, sink, a).Kind, Is.EqualTo("open"));
        Assert.That(backing.Opened, Has.Count.EqualTo(1), "after EPERM no other file is tried");
        Assert.That(log.Lines.Any(l => l.Message.Contains("passthrough refused") && l.Message.Contains("off for this mount")), Is.True);
    }

    [Test]
    public void AFileTheKernelRefusesIsServedWithoutPassthroughWhileOthersUseIt()
    {
        const int EBUSY = 16;
        var backing = new BackingFilesDouble { RefuseWith = EBUSY };
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create(backing);
        ulong tree = Lookup(fs, sink, 1, _tree);
        ulong a = Lookup(fs, sink, tree, "a");
        ulong b = Lookup(fs, sink, tree, "b");

        Assert.That(Open(fs, sink, a).Kind, Is.EqualTo("open"));
        backing.RefuseWith = 0;
        Assert.That(Open(fs, sink, b).Kind, Is.EqualTo("open-passthrough"), "a per-file refusal leaves passthrough on for the rest");
        Assert.That(Open(fs, sink, a).Kind, Is.EqualTo("open"), "an inode that started without passthrough keeps to it");
    }

    [Test]
    public void NotNegotiatedOrNoLocalFileMeansOrdinaryOpens()
    {
        var off = new BackingFilesDouble { Enabled = false };
        (StoreFilesystem fs, RecordingReplySink sink, _) = Create(off);
        ulong tree = Lookup(fs, sink, 1, _tree);
        Assert.That(Open(fs, sink, Lookup(fs, sink, tree, "a")).Kind, Is.EqualTo("open"));
        Assert.That(off.Opened, Is.Empty);

        // A memory store's blobs have no file to hand the kernel.
        var memory = new StoreOpener().Open(StoreAddress.Memory);
        string copied = new TestTreeWriter(memory).AddStorePathAsync("tree", new DirSpec(("a", FileSpec.Text("in memory\n")))).GetAwaiter().GetResult();
        var on = new BackingFilesDouble();
        (StoreFilesystem memoryFs, RecordingReplySink memorySink, _) = Create(on, memory);
        ulong memoryTree = Lookup(memoryFs, memorySink, 1, copied);
        Assert.That(Open(memoryFs, memorySink, Lookup(memoryFs, memorySink, memoryTree, "a")).Kind, Is.EqualTo("open"));
        Assert.That(on.Opened, Is.Empty);
    }

    // ---------------------------------------------------------------- real mounts

    private InProcessMount MountWithPassthrough(int maxIdleLocalBlobs = 1024) =>
        new(_local, new StoreFilesystemOptions { BackingFiles = new FuseBackingFiles(), MaxIdleLocalBlobs = maxIdleLocalBlobs });

    private static long ReadsServed(InProcessMount mount)
    {
        long total = 0;
        foreach (long count in mount.Filesystem.ReadRequestSizes)
            total += count;
        return total;
    }

    [Test]
    public void TheKernelReadsAndMapsLocalBlobFilesItselfWhenItOffersPassthrough()
    {
        using InProcessMount mount = MountWithPassthrough();
        string big = mount.PathOf(_tree, "big");
        Assert.That(File.ReadAllBytes(big), Is.EqualTo(_big), "read(2) through the mount");
        FuseBackingFiles backing = mount.BackingFiles!;
        // This kernel's configuration decides the offer; what we negotiate must follow it.
        Assert.That(backing.Enabled, Is.EqualTo(backing.KernelOffered), "passthrough is on exactly when the kernel offered it");
        if (KernelSupportsPassthrough() is { } configured)
            Assert.That(backing.KernelOffered, Is.EqualTo(configured), "the offer matches the running kernel's configuration");

        using (var mapped = MemoryMappedFile.CreateFromFile(big, FileMode.Open, null, 0, MemoryMappedFileAccess.Read))
        using (MemoryMappedViewAccessor view = mapped.CreateViewAccessor(0, _big.Length, MemoryMappedFileAccess.Read))
        {
            var window = new byte[4096];
            view.ReadArray(_big.Length - window.Length, window, 0, window.Length);
            Assert.That(window, Is.EqualTo(_big.AsSpan(_big.Length - window.Length).ToArray()), "mmap through the mount");
        }
        Assert.That(File.ReadAllText(mount.PathOf(_tree, "a")), Is.EqualTo("first file\n"));

        if (backing.Enabled)
            Assert.That(ReadsServed(mount), Is.Zero, "with passthrough no read request reaches tvixlowfs");
        else
            Assert.That(ReadsServed(mount), Is.Positive);
    }

    [Test]
    public void OpensRacingReleasesAndDroppedBlobsKeepReadingTheRightBytes()
    {
        // Every last release drops the blob (and its backing id): reopening registers anew.
        using InProcessMount mount = MountWithPassthrough(maxIdleLocalBlobs: 0);
        string[] names = ["a", "b", "big"];
        byte[][] expected = [Encoding.UTF8.GetBytes("first file\n"), Encoding.UTF8.GetBytes("second file\n"), _big];
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var threads = Enumerable.Range(0, 6).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            for (int round = 0; round < 40; round++)
            {
                int file = random.Next(names.Length);
                try
                {
                    using FileStream stream = File.OpenRead(mount.PathOf(_tree, names[file]));
                    long offset = random.Next(expected[file].Length);
                    stream.Position = offset;
                    var buffer = new byte[Math.Min(65536, expected[file].Length - (int)offset)];
                    stream.ReadExactly(buffer);
                    if (!buffer.AsSpan().SequenceEqual(expected[file].AsSpan((int)offset, buffer.Length)))
                        failures.Enqueue($"{names[file]} at {offset}: wrong bytes");
                }
                catch (IOException e)
                {
                    failures.Enqueue($"{names[file]}: {e.Message}");
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.That(failures, Is.Empty);
    }

    /// <summary>CONFIG_FUSE_PASSTHROUGH of the running kernel, from /proc/config.gz or /boot/config-*; null when neither is there.</summary>
    private static bool? KernelSupportsPassthrough()
    {
        string release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        string? text = null;
        if (File.Exists("/proc/config.gz"))
        {
            using var gzip = new System.IO.Compression.GZipStream(File.OpenRead("/proc/config.gz"), System.IO.Compression.CompressionMode.Decompress);
            text = new StreamReader(gzip).ReadToEnd();
        }
        else if (File.Exists($"/boot/config-{release}"))
        {
            text = File.ReadAllText($"/boot/config-{release}");
        }
        return text?.Contains("CONFIG_FUSE_PASSTHROUGH=y", StringComparison.Ordinal);
    }
}
