using System.Diagnostics;
using NUnit.Framework;
using TvixLowFs.Fuse;

namespace TvixLowFs.Tests.Fuse;

/// <summary>
/// A session with backing files does its own /dev/fuse I/O (to negotiate passthrough): it must
/// serve like libfuse's own, and every way of ending the loop must still end it, since its idle
/// workers wait in poll(2) instead of being cancelled.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class DeviceIoTests
{
    [Test]
    public void RequestsAreServedAndPassthroughFollowsTheKernelsOffer()
    {
        var backingFiles = new FuseBackingFiles();
        using var mount = new TestMount(new HelloFilesystemDouble(), backingFiles: backingFiles);
        Assert.That(File.ReadAllBytes(mount.PathOf("hello.txt")), Is.EqualTo(HelloFilesystemDouble.HelloContent));
        Assert.That(Directory.EnumerateFileSystemEntries(mount.MountPoint).Count(), Is.EqualTo(3));
        Assert.That(backingFiles.Enabled, Is.EqualTo(backingFiles.KernelOffered), "accepted exactly when offered");
        if (backingFiles.Enabled)
        {
            // A registration works on this session's device (root) and its id can be closed again.
            using var file = File.OpenHandle(typeof(DeviceIoTests).Assembly.Location);
            int id = backingFiles.Open(file);
            Assert.That(id, Is.Positive, $"FUSE_DEV_IOC_BACKING_OPEN: {id}");
            backingFiles.Close(id);
        }
    }

    [Test]
    public void ExitEndsAnIdleLoopWithEveryWorkerWaiting()
    {
        var backingFiles = new FuseBackingFiles();
        var mount = new TestMount(new HelloFilesystemDouble(), backingFiles: backingFiles);
        // Busy several workers once, so more than one waits in poll afterwards.
        Parallel.For(0, 16, _ => File.ReadAllBytes(mount.PathOf("hello.txt")));
        mount.Session.Exit();
        Assert.That(mount.Loop.Wait(TimeSpan.FromSeconds(30)), Is.True, "the loop returned after Exit");
        Assert.That(mount.Loop.Result, Is.Zero);
        mount.Dispose();
        Assert.That(TestMount.IsMounted(mount.MountPoint), Is.False);
        Assert.That(backingFiles.Enabled, Is.False, "no registrations once the session is gone");
    }

    [Test]
    public void AnUnmountFromOutsideEndsTheLoop()
    {
        var mount = new TestMount(new HelloFilesystemDouble(), backingFiles: new FuseBackingFiles());
        try
        {
            Assert.That(File.ReadAllBytes(mount.PathOf("hello.txt")), Is.EqualTo(HelloFilesystemDouble.HelloContent));
            using (var fusermount = Process.Start("fusermount3", ["-u", mount.MountPoint])!)
            {
                fusermount.WaitForExit();
                Assert.That(fusermount.ExitCode, Is.Zero);
            }
            Assert.That(mount.Loop.Wait(TimeSpan.FromSeconds(30)), Is.True, "the loop returned after the unmount");
        }
        finally
        {
            mount.Dispose();
        }
    }
}
