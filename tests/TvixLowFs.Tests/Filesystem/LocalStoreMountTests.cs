using System.Collections.Concurrent;
using System.Text;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Store;
using TvixLowFs.Store.Services;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// An in-process mount over a local:// store, where reads are spliced from the blob files, with
/// the blob descriptor closed after every last release (MaxIdleLocalBlobs = 0): concurrent
/// open/read/close cycles race those closes and must still read the right bytes.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class LocalStoreMountTests
{
    private string _storeDirectory = null!;
    private StoreServices _store = null!;
    private InProcessMount _mount = null!;
    private string _tree = null!;
    private byte[][] _contents = null!;

    [OneTimeSetUp]
    public async Task MountAsync()
    {
        _storeDirectory = Path.Combine(Path.GetTempPath(), "tvixlowfs-localmount-" + Guid.NewGuid().ToString("N"));
        _store = new StoreOpener().Open(StoreAddress.ForLocalDirectory(_storeDirectory));
        _contents = Enumerable.Range(0, 10).Select(i =>
        {
            var bytes = new byte[100_000 + i * 7919];
            new Random(i).NextBytes(bytes);
            return bytes;
        }).ToArray();
        _tree = await new TestTreeWriter(_store).AddStorePathAsync("files",
            new DirSpec(_contents.Select((c, i) => ($"f{i}", (TreeNode)new FileSpec(c))).ToArray()));
        _mount = new InProcessMount(_store, new StoreFilesystemOptions { MaxIdleLocalBlobs = 0 });
    }

    [OneTimeTearDown]
    public async Task UnmountAsync()
    {
        _mount?.Dispose();
        if (_store is not null)
            await _store.DisposeAsync();
        if (_storeDirectory is not null)
            System.IO.Directory.Delete(_storeDirectory, recursive: true);
    }

    /// <summary>Descriptors of this process open on files of the store.</summary>
    private int OpenBlobDescriptors() => new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos()
        .Count(fd => { try { return fd.LinkTarget?.StartsWith(_storeDirectory, StringComparison.Ordinal) == true; } catch (IOException) { return false; } });

    [Test]
    public void ConcurrentOpenReadCloseReadsTheRightBytesAndLeavesNoDescriptorsOpen()
    {
        var failures = new ConcurrentQueue<string>();
        var threads = Enumerable.Range(0, 12).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            var buffer = new byte[70_000];
            for (int round = 0; round < 60; round++)
            {
                int file = random.Next(_contents.Length);
                (int fd, int errno) = Libc.Open(_mount.PathOf(_tree, $"f{file}"), Libc.O_RDONLY);
                if (errno != 0)
                {
                    failures.Enqueue($"open f{file}: errno {errno}");
                    continue;
                }
                long offset = random.Next(_contents[file].Length);
                long read = Libc.PRead(fd, buffer, offset);
                Libc.Close(fd);
                long expected = Math.Min(buffer.Length, _contents[file].Length - offset);
                if (read != expected || !buffer.AsSpan(0, (int)read).SequenceEqual(_contents[file].AsSpan((int)offset, (int)read)))
                    failures.Enqueue($"f{file} at {offset}: read {read}, expected {expected}");
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.That(failures, Is.Empty);

        for (int i = 0; i < _contents.Length; i++)
            Assert.That(File.ReadAllBytes(_mount.PathOf(_tree, $"f{i}")), Is.EqualTo(_contents[i]));
        // The kernel sends RELEASE after close() has returned: wait for the releases to arrive.
        int blobDescriptors = OpenBlobDescriptors();
        for (int wait = 0; wait < 200 && blobDescriptors > 0; wait++)
        {
            Thread.Sleep(50);
            blobDescriptors = OpenBlobDescriptors();
        }
        Assert.That(blobDescriptors, Is.Zero, "blob descriptors closed after the last release");
    }
}
