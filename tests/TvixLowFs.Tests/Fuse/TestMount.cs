using NUnit.Framework;
using System.Diagnostics;
using TvixLowFs.Fuse;

namespace TvixLowFs.Tests.Fuse;

/// <summary>
/// A real mount of an <see cref="IFuseOperations"/> in a fresh temp dir, its loop on a dedicated
/// thread. Dispose exits, unmounts and removes the dir, with `fusermount3 -u -z` as a fallback
/// so a failing test never leaves a mount behind.
/// </summary>
internal sealed class TestMount : IDisposable
{
    public string MountPoint { get; }
    public FuseSession Session { get; }
    public Task<int> Loop { get; }

    public TestMount(IFuseOperations operations, bool readOnly = true, bool handleSignals = false, FuseBackingFiles? backingFiles = null)
    {
        Assert.That(File.Exists("/dev/fuse"), Is.True, "/dev/fuse is missing: FUSE mount tests cannot run here");
        MountPoint = Path.Combine(Path.GetTempPath(), "tvixlowfs-fuse-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(MountPoint);
        try
        {
            Session = FuseSession.Mount(operations, new FuseMountOptions
            {
                MountPoint = MountPoint,
                FsName = "tvixlowfs-test",
                Subtype = "tvixlowfs-test",
                ReadOnly = readOnly,
                MaxThreads = 4,
                HandleSignals = handleSignals,
                BackingFiles = backingFiles,
            });
        }
        catch
        {
            Directory.Delete(MountPoint);
            throw;
        }
        Mount.HungMounts.Watch(MountPoint);
        Loop = Task.Factory.StartNew(Session.Run, TaskCreationOptions.LongRunning);
    }

    public string PathOf(string name) => Path.Combine(MountPoint, name);

    public static bool IsMounted(string mountPoint) =>
        File.ReadLines("/proc/self/mounts").Any(line => line.Split(' ')[1] == mountPoint);

    public void Dispose()
    {
        try
        {
            Session.Exit();
            // A hang guard, not a timing assertion: the loop must return at all.
            if (!Loop.Wait(TimeSpan.FromSeconds(30))) Assert.Fail("the FUSE loop did not return after Exit");
            Session.Dispose();
        }
        finally
        {
            if (IsMounted(MountPoint))
            {
                using var fusermount = Process.Start("fusermount3", ["-u", "-z", MountPoint]);
                fusermount.WaitForExit();
            }
            try { Directory.Delete(MountPoint); } catch (IOException) { }
        }
    }
}
