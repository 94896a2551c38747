using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace TvixLowFs.Tests.Mount;

/// <summary>
/// The FUSE mounts this test process made (in-process or by a <c>tvixlowfs mount</c> child), so
/// that a test that hangs on one can be freed: <see cref="AbortWatched"/> force-unmounts them,
/// which aborts the FUSE connection (the kernel's umount_begin), so every syscall blocked on it
/// returns ENOTCONN and the test thread gets out to fail. Only mounts registered here are
/// touched: other test processes on the machine mount under the same temp directory.
/// </summary>
internal static partial class HungMounts
{
    private const int MNT_FORCE = 1;
    private static readonly ConcurrentDictionary<string, bool> Watched = new(StringComparer.Ordinal);

    public static void Watch(string mountPoint) => Watched[Path.GetFullPath(mountPoint).TrimEnd('/')] = true;

    /// <summary>Aborts every watched mount that is still mounted; returns their mount points.</summary>
    public static IReadOnlyList<string> AbortWatched()
    {
        var aborted = new List<string>();
        foreach (string mountPoint in MountedFuseMountPoints().Where(Watched.ContainsKey))
        {
            // MNT_FORCE on FUSE aborts the connection first; the unmount itself may then fail
            // with EBUSY (the blocked caller holds it), which the test's teardown cleans up.
            Umount2(mountPoint, MNT_FORCE);
            aborted.Add(mountPoint);
        }
        return aborted;
    }

    private static IEnumerable<string> MountedFuseMountPoints()
    {
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            string[] fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-");
            if (fields.Length > 4 && separator > 0 && separator + 1 < fields.Length && fields[separator + 1].StartsWith("fuse", StringComparison.Ordinal))
                yield return fields[4].Replace("\\040", " ", StringComparison.Ordinal);
        }
    }

    [LibraryImport("libc", EntryPoint = "umount2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Umount2(string target, int flags);
}
