using NUnit.Framework;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// Checks of a store path served by a mount against the same path in real Nix's store on disk:
/// names, types, every byte, the full mode (0444/0555 files, 0555 directories) and symlink targets;
/// and the timestamps a real /nix/store has (issue 12 point 6).
/// </summary>
internal static class MountedStorePath
{
    /// <summary>Asserts <paramref name="actual"/> (on the mount) equals <paramref name="expected"/> (Nix's copy), recursively.</summary>
    public static void AssertEqualToNix(string expected, string actual)
    {
        Stat e = Libc.LStat(expected);
        Assert.That(Libc.LStat(actual, out Stat a), Is.Zero, "lstat " + actual);
        const uint typeMask = 0xF000, symlinkType = 0xA000, directoryType = 0x4000;
        Assert.That(a.Mode & typeMask, Is.EqualTo(e.Mode & typeMask), "file type of " + actual);
        switch (e.Mode & typeMask)
        {
            case symlinkType:
                Assert.That(Libc.ReadLink(actual).Target, Is.EqualTo(Libc.ReadLink(expected).Target), "symlink target of " + actual);
                break;
            case directoryType:
                Assert.That(a.Mode, Is.EqualTo(e.Mode), "mode of " + actual);
                (List<string> expectedNames, int expectedErrno) = Libc.ListDirectory(expected);
                (List<string> actualNames, int actualErrno) = Libc.ListDirectory(actual);
                Assert.That((expectedErrno, actualErrno), Is.EqualTo((0, 0)), "readdir " + actual);
                expectedNames.Sort(StringComparer.Ordinal);
                actualNames.Sort(StringComparer.Ordinal);
                Assert.That(actualNames, Is.EqualTo(expectedNames), "entries of " + actual);
                foreach (string name in expectedNames.Where(n => n is not ("." or "..")))
                    AssertEqualToNix(Path.Combine(expected, name), Path.Combine(actual, name));
                break;
            default:
                Assert.That(a.Mode, Is.EqualTo(e.Mode), "mode of " + actual);
                Assert.That(a.Size, Is.EqualTo(e.Size), "size of " + actual);
                Assert.That(File.ReadAllBytes(actual), Is.EqualTo(File.ReadAllBytes(expected)), "bytes of " + actual);
                break;
        }
    }

    /// <summary>Every inode at and below <paramref name="path"/>: mtime exactly 1 s, atime and ctime no later.</summary>
    public static void AssertStoreTimes(string path)
    {
        Stat stat = AssertInodeTimes(path);
        if ((stat.Mode & 0xF000) != 0x4000)
            return;
        (List<string> names, int errno) = Libc.ListDirectory(path);
        Assert.That(errno, Is.Zero, "readdir " + path);
        foreach (string name in names.Where(n => n is not ("." or "..")))
            AssertStoreTimes(Path.Combine(path, name));
    }

    /// <summary>One inode (e.g. the mount's root): mtime exactly 1 s, atime and ctime no later.</summary>
    public static Stat AssertInodeTimes(string path)
    {
        Assert.That(Libc.LStat(path, out Stat stat), Is.Zero, "lstat " + path);
        Assert.That((stat.Mtime.Seconds, stat.Mtime.Nanoseconds), Is.EqualTo((1L, 0L)), "mtime of " + path);
        Assert.That(AtMostOneSecond(stat.Atime), Is.True, $"atime of {path}: {stat.Atime.Seconds}.{stat.Atime.Nanoseconds:D9}");
        Assert.That(AtMostOneSecond(stat.Ctime), Is.True, $"ctime of {path}: {stat.Ctime.Seconds}.{stat.Ctime.Nanoseconds:D9}");
        return stat;
    }

    private static bool AtMostOneSecond(Timespec time) => time.Seconds < 1 || (time.Seconds == 1 && time.Nanoseconds == 0);
}
