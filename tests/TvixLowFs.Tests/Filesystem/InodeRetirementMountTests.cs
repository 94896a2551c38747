using System.Text;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Store;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// A real mount: a walk over a generated tree fills the inode table; dropping the kernel's dentry
/// and inode caches (<c>echo 2 &gt; /proc/sys/vm/drop_caches</c>) makes the kernel forget them, and
/// the table shrinks to what the forgotten-inode queue keeps; a second walk sees the same tree.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class InodeRetirementMountTests
{
    private const int Directories = 40;
    private const int FilesPerDirectory = 50;
    private const int Queue = 64;

    private string _storeDirectory = null!;
    private StoreServices _store = null!;
    private string _tree = null!;

    [OneTimeSetUp]
    public async Task CreateStoreAsync()
    {
        _storeDirectory = Path.Combine(Path.GetTempPath(), "tvixlowfs-retiremount-" + Guid.NewGuid().ToString("N"));
        _store = new StoreOpener().Open(StoreAddress.ForLocalDirectory(_storeDirectory));
        _tree = await new TestTreeWriter(_store).AddStorePathAsync("walk", new DirSpec(Enumerable.Range(0, Directories).Select(d =>
            ($"d{d:D3}", (TreeNode)new DirSpec(Enumerable.Range(0, FilesPerDirectory).Select(f =>
                ($"f{f:D3}", (TreeNode)FileSpec.Text($"file {d}/{f}\n"))).ToArray()))).ToArray()));
    }

    [OneTimeTearDown]
    public async Task DeleteStoreAsync()
    {
        if (_store is not null)
            await _store.DisposeAsync();
        if (_storeDirectory is not null)
            System.IO.Directory.Delete(_storeDirectory, recursive: true);
    }

    private static long Walk(string root)
    {
        long bytes = 0;
        foreach (string path in System.IO.Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
            bytes += new FileInfo(path).Length;
        return bytes;
    }

    [Test]
    public void DroppingTheKernelsCachesShrinksTheInodeTable()
    {
        using var mount = new InProcessMount(_store, new StoreFilesystemOptions { ForgottenInodes = Queue });
        string tree = mount.PathOf(_tree);
        long bytes = Walk(tree);
        long afterWalk = mount.Filesystem.Inodes.Count;
        Assert.That(afterWalk, Is.GreaterThanOrEqualTo(Directories * (FilesPerDirectory + 1) + 1));

        File.WriteAllText("/proc/sys/vm/drop_caches", "2");
        // Forgets arrive asynchronously after the kernel evicts; wait for them (bounded).
        DateTime giveUp = DateTime.UtcNow.AddSeconds(60);
        while (mount.Filesystem.Inodes.Count > Queue && DateTime.UtcNow < giveUp)
        {
            Thread.Sleep(50);
            File.WriteAllText("/proc/sys/vm/drop_caches", "2");
        }
        long afterDrop = mount.Filesystem.Inodes.Count;
        TestContext.Out.WriteLine($"inode table: {afterWalk} after the walk, {afterDrop} after drop_caches");
        Assert.That(afterDrop, Is.LessThanOrEqualTo(Queue), "only the queue of recently forgotten inodes is left");

        Assert.That(Walk(tree), Is.EqualTo(bytes), "a second walk sees the same tree");
        Assert.That(File.ReadAllText(Path.Combine(tree, "d017", "f023")), Is.EqualTo("file 17/23\n"));
    }
}
