using System.Runtime.CompilerServices;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// <c>--list-root</c> over a store of 2000 paths: the listing spans many readdir buffers, resumes at
/// any offset, and is streamed from the PathInfoService once per open, never restarted.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class RootListingMountTests
{
    private const int PathCount = 2000;

    private StoreServices _store = null!;
    private CountingPathInfoService _pathInfos = null!;
    private InProcessMount _mount = null!;
    private List<string> _basenames = null!;

    [OneTimeSetUp]
    public async Task MountAsync()
    {
        StoreServices memory = new StoreOpener().Open(StoreAddress.Memory);
        _pathInfos = new CountingPathInfoService(memory.PathInfos);
        _store = new StoreServices(memory.Blobs, memory.Directories, _pathInfos);
        var writer = new TestTreeWriter(_store);
        _basenames = [];
        for (int i = 0; i < PathCount; i++)
            _basenames.Add(await writer.AddStorePathAsync($"package-{i:D5}-with-a-longer-name", i % 2 == 0 ? FileSpec.Text($"p{i}\n") : new LinkSpec($"target-{i}")));
        _mount = new InProcessMount(_store, new StoreFilesystemOptions { ListRoot = true });
    }

    [OneTimeTearDown]
    public async Task UnmountAsync()
    {
        _mount?.Dispose();
        if (_store is not null)
            await _store.DisposeAsync();
    }

    [Test]
    public void TheRootListsEveryStorePathOnceAcrossManyBuffers()
    {
        int listedBefore = _pathInfos.Yielded;
        (List<string> names, int errno) = Libc.ListDirectory(_mount.MountPoint);
        Assert.That(errno, Is.Zero);
        Assert.That(names.Take(2), Is.EqualTo(new[] { ".", ".." }));
        Assert.That(names.Skip(2), Is.EquivalentTo(_basenames));
        Assert.That(_pathInfos.Yielded - listedBefore, Is.EqualTo(PathCount), "each PathInfo pulled once");

        // Listed paths are known afterwards: their attributes need no more backend calls.
        Assert.That(Libc.LStat(Path.Combine(_mount.MountPoint, _basenames[10]), out _), Is.Zero);
        Assert.That(File.ReadAllText(Path.Combine(_mount.MountPoint, _basenames[10])), Is.EqualTo("p10\n"));
    }

    [Test]
    public void TheRootListingResumesAtAnyOffsetWithoutRestarting()
    {
        (nint dir, int errno) = Libc.OpenDir(_mount.MountPoint);
        Assert.That(errno, Is.Zero);
        int listsBefore = _pathInfos.Lists;
        try
        {
            var positions = new List<long>();
            var names = new List<string>();
            while (true)
            {
                positions.Add(Libc.TellDir(dir));
                if (Libc.ReadDir(dir) is not { } entry)
                    break;
                names.Add(entry.Name);
            }
            Assert.That(names, Has.Count.EqualTo(PathCount + 2));
            foreach (int index in new[] { 1500, 3, 0, 1999, 2001, 777 })
            {
                Libc.SeekDir(dir, positions[index]);
                var rest = new List<string>();
                while (Libc.ReadDir(dir) is { } entry)
                    rest.Add(entry.Name);
                Assert.That(rest, Is.EqualTo(names.Skip(index)), $"resumed at {index}");
            }
        }
        finally
        {
            Libc.CloseDir(dir);
        }
        Assert.That(_pathInfos.Lists - listsBefore, Is.EqualTo(1), "one listing per open directory");
    }

    [Test]
    public void ManyThreadsListTheRootAtOnce()
    {
        var counts = new int[8];
        var threads = Enumerable.Range(0, counts.Length).Select(t => new Thread(() =>
        {
            (List<string> names, int errno) = Libc.ListDirectory(_mount.MountPoint);
            counts[t] = errno == 0 ? names.Count : -errno;
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.That(counts, Is.All.EqualTo(PathCount + 2));
    }

    /// <summary>Test double: a real PathInfoService that counts listings and the PathInfos they yield.</summary>
    private sealed class CountingPathInfoService(IPathInfoService inner) : IPathInfoService
    {
        private int _lists, _yielded;

        public int Lists => Volatile.Read(ref _lists);

        public int Yielded => Volatile.Read(ref _yielded);

        public ValueTask<PathInfo?> GetAsync(StorePathHash hash, CancellationToken cancellationToken = default) => inner.GetAsync(hash, cancellationToken);

        public ValueTask<PathInfo> PutAsync(PathInfo pathInfo, CancellationToken cancellationToken = default) => inner.PutAsync(pathInfo, cancellationToken);

        public async IAsyncEnumerable<PathInfo> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _lists);
            await foreach (PathInfo pathInfo in inner.ListAsync(cancellationToken))
            {
                Interlocked.Increment(ref _yielded);
                yield return pathInfo;
            }
        }

        public ValueTask<NarHash> CalculateNarAsync(Node node, CancellationToken cancellationToken = default) => inner.CalculateNarAsync(node, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
