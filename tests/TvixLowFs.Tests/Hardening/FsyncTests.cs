using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Issue 14 point 5: fsync(2) and fdatasync(2) on a read-only descriptor of a mounted file or
/// directory succeed, as on read-only ext4 and squashfs (there is nothing to write back).
/// A real mount in this process over a real local:// store.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class FsyncTests
{
    [Test]
    public async Task FsyncOfAMountedFileAndDirectorySucceeds()
    {
        await using TemporaryLocalStore temporary = TemporaryLocalStore.Create("fsync");
        string basename = await new TestTreeWriter(temporary.Store).AddStorePathAsync("synced", new DirSpec(
            ("f", FileSpec.Text("nothing to sync\n")), ("sub", new DirSpec(("g", FileSpec.Text("g\n"))))));
        using var mount = new InProcessMount(temporary.Store, new StoreFilesystemOptions());

        (int file, int fileErrno) = BoundedCall.Run(() => Libc.Open(mount.PathOf(basename, "f"), Libc.O_RDONLY), "open of a file");
        Assert.That(fileErrno, Is.Zero);
        (int directory, int directoryErrno) = BoundedCall.Run(() => Libc.Open(mount.PathOf(basename, "sub"), Libc.O_RDONLY | Libc.O_DIRECTORY), "open of a directory");
        Assert.That(directoryErrno, Is.Zero);
        try
        {
            int[] results =
            [
                BoundedCall.Run(() => Libc.Fsync(file), "fsync of a file"),
                BoundedCall.Run(() => Libc.Fdatasync(file), "fdatasync of a file"),
                BoundedCall.Run(() => Libc.Fsync(directory), "fsync of a directory"),
                BoundedCall.Run(() => Libc.Fdatasync(directory), "fdatasync of a directory"),
            ];
            Assert.Multiple(() =>
            {
                Assert.That(results[0], Is.Zero, "fsync of a file");
                Assert.That(results[1], Is.Zero, "fdatasync of a file");
                Assert.That(results[2], Is.Zero, "fsync of a directory");
                Assert.That(results[3], Is.Zero, "fdatasync of a directory");
            });
            // Writing stays refused.
            Assert.That(Libc.Open(mount.PathOf(basename, "f"), Libc.O_WRONLY).Errno, Is.EqualTo(Libc.EROFS));
        }
        finally
        {
            Libc.Close(file);
            Libc.Close(directory);
        }
    }
}
