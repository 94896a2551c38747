namespace TvixLowFs.Tests.Mount;

/// <summary>
/// Whether this kernel offers FUSE passthrough to this process, decided from the kernel itself:
/// Linux 6.9 or later built with CONFIG_FUSE_PASSTHROUGH, and root (registering a backing file
/// needs CAP_SYS_ADMIN in the initial namespace). A kernel whose configuration cannot be read is
/// an error, not a guess.
/// </summary>
internal static class KernelPassthrough
{
    public static bool Offered()
    {
        if (Release() < new Version(6, 9))
            return false;
        string config = Configuration() ?? throw new InvalidOperationException(
            "cannot tell whether the kernel offers FUSE passthrough: neither /proc/config.gz nor /boot/config-RELEASE exists");
        return config.Contains("CONFIG_FUSE_PASSTHROUGH=y", StringComparison.Ordinal) && Environment.IsPrivilegedProcess;
    }

    public static string Describe() =>
        $"kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, privileged: {Environment.IsPrivilegedProcess}";

    private static Version Release()
    {
        string release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        string[] parts = release.Split('.', '-');
        return new Version(int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static string? Configuration()
    {
        if (File.Exists("/proc/config.gz"))
        {
            using var gzip = new System.IO.Compression.GZipStream(File.OpenRead("/proc/config.gz"), System.IO.Compression.CompressionMode.Decompress);
            return new StreamReader(gzip).ReadToEnd();
        }
        string boot = "/boot/config-" + File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        return File.Exists(boot) ? File.ReadAllText(boot) : null;
    }
}
