using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Tests.Filesystem;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Issue 14 point 5: fsync(2) and fdatasync(2) on a read-only descriptor of a mounted file or
/// directory succeed, as on read-only ext4 and squashfs (there is nothing to write back).
/// A real mount in this process over a real local:// store.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class FsyncTests
{
    [Test]
    public async Task FsyncOfAMountedFileAndDirectorySucceeds()
    {
        await using TemporaryLocalStore temporary = TemporaryLocalStore.Create("fsync");
        string basename = await new TestTreeWriter(temporary.Store).AddStorePathAsync("synced", new DirSpec(
            ("f", FileSpec.Text("nothing to sync\n")), ("sub", new DirSpec(("g", FileSpec.Text("g\n"))))));
        using var mount = new InProcessMount(temporary.Store, new StoreFilesystemOptions());

        (int file, int fileErrno) = Libc.Open(mount.PathOf(basename, "f"), Libc.O_RDONLY);
        Assert.That(fileErrno, Is.Zero);
        (int directory, int directoryErrno) = Libc.Open(mount.PathOf(basename, "sub"), Libc.O_RDONLY | Libc.O_DIRECTORY);
        Assert.That(directoryErrno, Is.Zero);
        try
        {
            Assert.Multiple(() =>
            {
                Assert.That(Libc.Fsync(file), Is.Zero, "fsync of a file");
                Assert.That(Libc.Fdatasync(file), Is.Zero, "fdatasync of a file");
                Assert.That(Libc.Fsync(directory), Is.Zero, "fsync of a directory");
                Assert.That(Libc.Fdatasync(directory), Is.Zero, "fdatasync of a directory");
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
