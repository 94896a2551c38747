using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// Reads /proc/self/mountinfo, and waits for a mount to appear by poll(2)ing it for POLLPRI (the
/// kernel signals every mount-table change there), re-checking at least every millisecond.
/// </summary>
internal static partial class MountTable
{
    private const string MountInfoPath = "/proc/self/mountinfo";

    public static bool IsMounted(string mountPoint) => MountPoints().Contains(Path.TrimEndingDirectorySeparator(mountPoint));

    public static IEnumerable<string> MountPointsUnder(string directory)
    {
        var prefix = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)) + "/";
        return MountPoints().Where(m => m.StartsWith(prefix, StringComparison.Ordinal)).ToList();
    }

    public static HashSet<string> MountPoints()
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadAllLines(MountInfoPath))
        {
            // id parent major:minor root MOUNT-POINT options ... ; paths escape space, tab, \n, \ as \ooo
            var fields = line.Split(' ');
            if (fields.Length > 4) result.Add(Unescape(fields[4]));
        }
        return result;
    }

    /// <summary>
    /// Waits until mountPoint is in the mount table and its root answers a stat. Returns false if
    /// the server exits first or the timeout passes.
    /// </summary>
    public static unsafe bool WaitForMount(string mountPoint, Process server, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        using var handle = File.OpenHandle(MountInfoPath, FileMode.Open, FileAccess.Read);
        var pollFd = new PollFd { Descriptor = (int)handle.DangerousGetHandle(), Events = PollPri };
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (IsMounted(mountPoint))
            {
                // stat of the root waits for FUSE_INIT, so it succeeds only once the server answers.
                return Directory.Exists(mountPoint) && IsMounted(mountPoint);
            }
            if (server.HasExited) return false;
            poll(&pollFd, 1, 1);
        }
        return false;
    }

    private static string Unescape(string field)
    {
        if (!field.Contains('\\')) return field;
        var builder = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && IsOctal(field, i + 1))
            {
                builder.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else builder.Append(field[i]);
        }
        return builder.ToString();
    }

    private static bool IsOctal(string text, int start) =>
        start + 3 <= text.Length && text.AsSpan(start, 3).IndexOfAnyExceptInRange('0', '7') < 0;

    private const short PollPri = 0x002;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Descriptor;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int poll(PollFd* descriptors, nuint count, int timeoutMilliseconds);
}
