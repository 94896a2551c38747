using System.Diagnostics;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// Checks a mount destination before mounting: it must exist, be a directory and not be mounted
/// already. A stale FUSE mount left by a killed process ("Transport endpoint is not connected")
/// is detached first, with a message.
/// </summary>
public static class MountPoint
{
    /// <summary>
    /// Returns the absolute mount point. Throws <see cref="IOException"/> with a one-line reason
    /// when <paramref name="destination"/> cannot be mounted on.
    /// </summary>
    public static string Prepare(string destination, Action<string> report)
    {
        ArgumentNullException.ThrowIfNull(report);
        string full = Path.GetFullPath(destination).TrimEnd('/');
        if (full.Length == 0)
            full = "/";

        int errno = Exists(full);
        if (errno == Interop.Errno.ENOTCONN)
        {
            report($"{destination} is a stale mount (transport endpoint is not connected); detaching it");
            DetachStale(full);
            errno = Exists(full);
            if (errno == Interop.Errno.ENOTCONN)
                throw new IOException($"mount point {destination} is a stale mount that could not be detached");
        }
        if (errno == Interop.Errno.ENOENT)
            throw new IOException($"mount point {destination} does not exist");
        if (errno == Interop.Errno.ENOTDIR || (errno == 0 && !Directory.Exists(full)))
            throw new IOException($"mount point {destination} is not a directory");
        if (errno != 0)
            throw new IOException($"mount point {destination} cannot be used: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno)}");
        if (MountedType(full) is { } type)
            throw new IOException($"mount point {destination} is already mounted ({type})");
        return full;
    }

    /// <summary>The filesystem type mounted exactly at <paramref name="fullPath"/>, or null (from /proc/self/mountinfo).</summary>
    public static string? MountedType(string fullPath)
    {
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mount-point options [optional...] - type source super-options
            string[] fields = line.Split(' ');
            if (fields.Length < 5 || Unescape(fields[4]) != fullPath)
                continue;
            int separator = Array.IndexOf(fields, "-", 5);
            return separator > 0 && separator + 1 < fields.Length ? fields[separator + 1] : "unknown type";
        }
        return null;
    }

    /// <summary>
    /// Raises the readahead of the FUSE mount at <paramref name="fullPath"/> to <paramref name="bytes"/>
    /// through its backing device's <c>/sys/class/bdi/&lt;major:minor&gt;/read_ahead_kb</c>. The kernel
    /// offers FUSE the default 128 KiB at init and only lowers it from the reply, so without this a
    /// sequential read arrives as 128 KiB requests. Best effort: false when the device is not found or sysfs refuses (not root).
    /// Reads only mountinfo and sysfs, never the mount itself (its requests may not be served yet).
    /// </summary>
    public static bool RaiseReadahead(string fullPath, int bytes)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/mountinfo"))
            {
                string[] fields = line.Split(' ');
                if (fields.Length < 5 || Unescape(fields[4]) != fullPath)
                    continue;
                string setting = $"/sys/class/bdi/{fields[2]}/read_ahead_kb";
                if (int.TryParse(File.ReadAllText(setting).Trim(), out int current) && current * 1024 >= bytes)
                    return true;
                File.WriteAllText(setting, (bytes / 1024).ToString(System.Globalization.CultureInfo.InvariantCulture));
                return true;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return false;
    }

    private static void DetachStale(string fullPath)
    {
        if (DetachMount(fullPath) == 0)
            return;
        // Not allowed to umount (not root): fusermount3 can, for mounts of our own user.
        try
        {
            using Process? fusermount = Process.Start(new ProcessStartInfo("fusermount3", ["-u", "-z", fullPath])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            });
            fusermount?.WaitForExit(10_000);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No fusermount3: the caller reports that the mount is still stale.
        }
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\'))
            return field;
        var text = new System.Text.StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length
                && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                text.Append((char)(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) | (field[i + 3] - '0')));
                i += 3;
            }
            else
            {
                text.Append(field[i]);
            }
        }
        return text.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';

    /// <summary>0 when <paramref name="path"/> exists (stat-able), else the errno.</summary>
    private static int Exists(string path) =>
        Interop.Libc.Access(path, Interop.Libc.F_OK) == 0 ? 0 : System.Runtime.InteropServices.Marshal.GetLastPInvokeError();

    /// <summary>Lazily detaches the mount at <paramref name="path"/>; 0 or the errno.</summary>
    private static int DetachMount(string path) =>
        Interop.Libc.Umount2(path, Interop.Libc.MNT_DETACH) == 0 ? 0 : System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
}
