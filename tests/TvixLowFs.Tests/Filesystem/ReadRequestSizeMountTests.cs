using System.Diagnostics;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Store;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// A real mount read sequentially with <c>dd bs=1M</c>: the bytes are right, and the read requests
/// the handler sees are 128 KiB with the kernel's default readahead, 512 KiB once it is raised.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class ReadRequestSizeMountTests
{
    private string _storeDirectory = null!;
    private StoreServices _store = null!;
    private string _path = null!;
    private byte[] _content = null!;

    [OneTimeSetUp]
    public async Task CreateStoreAsync()
    {
        _storeDirectory = Path.Combine(Path.GetTempPath(), "tvixlowfs-readsize-" + Guid.NewGuid().ToString("N"));
        _store = new StoreOpener().Open(StoreAddress.ForLocalDirectory(_storeDirectory));
        _content = new byte[32 << 20];
        new Random(5).NextBytes(_content);
        _path = await new TestTreeWriter(_store).AddStorePathAsync("big", new FileSpec(_content));
    }

    [OneTimeTearDown]
    public async Task DeleteStoreAsync()
    {
        if (_store is not null)
            await _store.DisposeAsync();
        if (_storeDirectory is not null)
            System.IO.Directory.Delete(_storeDirectory, recursive: true);
    }

    /// <summary>Reads the file with dd bs=1M on a fresh mount; returns the read request sizes seen, by power of two.</summary>
    private long[] ReadWithDd(bool raiseReadahead)
    {
        using var mount = new InProcessMount(_store, new StoreFilesystemOptions());
        if (raiseReadahead)
            Assert.That(MountPoint.RaiseReadahead(mount.MountPoint, StoreFilesystem.ReadaheadBytes), Is.True);
        string copy = Path.Combine(Path.GetTempPath(), "tvixlowfs-readsize-copy-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (Process dd = Process.Start(new ProcessStartInfo("dd", [$"if={mount.PathOf(_path)}", $"of={copy}", "bs=1M"]) { RedirectStandardError = true })!)
            {
                dd.StandardError.ReadToEnd();
                dd.WaitForExit();
                Assert.That(dd.ExitCode, Is.Zero);
            }
            Assert.That(File.ReadAllBytes(copy).AsSpan().SequenceEqual(_content), Is.True);
        }
        finally
        {
            File.Delete(copy);
        }
        long[] sizes = mount.Filesystem.ReadRequestSizes.ToArray();
        TestContext.Out.WriteLine($"readahead raised: {raiseReadahead}; read request sizes: "
            + string.Join(", ", sizes.Select((count, i) => (count, i)).Where(b => b.count > 0).Select(b => $"{b.count} in [{1L << b.i}, {2L << b.i})")));
        return sizes;
    }

    private static long Largest(long[] sizes) => 1L << Array.FindLastIndex(sizes, count => count > 0);

    [Test]
    public void RaisingTheReadaheadMakesSequentialReadsLargerRequests()
    {
        long[] before = ReadWithDd(raiseReadahead: false);
        long[] after = ReadWithDd(raiseReadahead: true);
        Assert.That(Largest(before), Is.GreaterThanOrEqualTo(128 * 1024), "the kernel's default readahead");
        Assert.That(Largest(after), Is.EqualTo(StoreFilesystem.ReadaheadBytes), "one request carries the raised readahead");
        Assert.That(after.Sum(), Is.LessThan(before.Sum()), "fewer, larger requests");
    }
}
