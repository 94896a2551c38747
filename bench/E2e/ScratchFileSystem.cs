using System.Globalization;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// A freshly made ext4 on a file-backed loop device, mounted for one measurement and removed after
/// it. ext4 does not reuse recently freed inodes (see README, `recently_deleted`), so writing a
/// store into a directory where the previous round's store was just deleted pays a scan per new
/// file: each import run gets a file system nothing was ever deleted on. Its inode tables and
/// journal are initialised by mkfs (not lazily by a kernel thread that would write during the run).
/// </summary>
internal sealed class ScratchFileSystem : IDisposable
{
    private const long ImageBytes = 3L << 30;

    private readonly string image;

    public string MountPoint { get; }

    private ScratchFileSystem(string image, string mountPoint)
    {
        this.image = image;
        MountPoint = mountPoint;
    }

    /// <summary>Makes and mounts one under <paramref name="directory"/> (image and mount point are named there).</summary>
    public static ScratchFileSystem Create(string directory)
    {
        Directory.CreateDirectory(directory);
        var image = Path.Combine(directory, "scratch.ext4");
        var mountPoint = Path.Combine(directory, "scratch");
        if (MountTable.IsMounted(mountPoint)) ExternalCommand.Run("umount", [mountPoint]).EnsureSuccess();
        File.Delete(image);
        Directory.CreateDirectory(mountPoint);
        using (var stream = new FileStream(image, FileMode.CreateNew, FileAccess.Write)) stream.SetLength(ImageBytes);
        ExternalCommand.Run("mkfs.ext4", ["-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", image]).EnsureSuccess();
        // -o loop sets the loop device up with autoclear: unmounting frees it.
        ExternalCommand.Run("mount", ["-o", "loop", image, mountPoint]).EnsureSuccess();
        Teardown.Instance.TrackMount(mountPoint, server: null);
        return new ScratchFileSystem(image, mountPoint);
    }

    public static bool ToolsMissing(out string reason)
    {
        foreach (var tool in new[] { "mkfs.ext4", "mount", "umount" })
        {
            if (!ExternalCommand.OnPath(tool) && !File.Exists("/usr/sbin/" + tool) && !File.Exists("/sbin/" + tool))
            {
                reason = string.Create(CultureInfo.InvariantCulture, $"{tool} is not installed");
                return true;
            }
        }
        reason = "";
        return false;
    }

    public void Dispose()
    {
        if (MountTable.IsMounted(MountPoint))
        {
            var result = ExternalCommand.Run("umount", [MountPoint]);
            if (result.ExitCode != 0) ExternalCommand.Run("umount", ["-l", MountPoint]);
        }
        Teardown.Instance.Unmount(MountPoint); // forgets it (already unmounted)
        File.Delete(image);
    }
}
