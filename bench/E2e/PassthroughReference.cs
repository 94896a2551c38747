using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// The reference server: libfuse's own low-level example, example/passthrough_ll.c of the
/// installed libfuse3, compiled here with gcc. Issue 5 asks, where a target looks out of reach,
/// for "a minimal C libfuse server doing the same at the same ratio"; this one is libfuse's, not
/// ours. The source is the installed libfuse3-dev's copy under /usr/share/doc (checked against
/// dpkg's md5sums) or, where that is missing (minimal images leave out /usr/share/doc), the
/// installed version's orig tarball from `apt-get source` with a private deb-src list, so the
/// system's apt state is never touched. Built once into WORK/passthrough_ll and reused while the
/// libfuse3 version and the compile command are unchanged; no libfuse source lives in the repo.
/// </summary>
internal sealed partial record PassthroughBinary(string BinaryPath, string Description)
{
    public const string SystemName = "passthrough_ll";
    private const string DevelopmentPackage = "libfuse3-dev";
    private const string ExamplesDirectory = "/usr/share/doc/libfuse3-dev/examples";
    private static readonly string[] SourceFiles = ["passthrough_ll.c", "passthrough_helpers.h"];

    /// <summary>Builds (or reuses) the binary; throws <see cref="SystemUnavailable"/> with the reason when it cannot.</summary>
    public static PassthroughBinary Ensure(string workDirectory)
    {
        foreach (var tool in new[] { "gcc", "pkg-config", "dpkg-query" })
        {
            if (!ExternalCommand.OnPath(tool)) throw new SystemUnavailable($"{tool} is not installed (./build.sh installs gcc, pkg-config and libfuse3-dev)");
        }
        var (sourcePackage, version) = InstalledVersion();
        var flags = ExternalCommand.Run("pkg-config", ["--cflags", "--libs", "fuse3"], timeout: TimeSpan.FromSeconds(30));
        if (flags.ExitCode != 0) throw new SystemUnavailable($"pkg-config knows no fuse3 (apt install libfuse3-dev): {CommandResult.FirstLines(flags.StandardError)}");
        // The compile line libfuse's example names, plus -O2; passthrough_ll.c includes only
        // <fuse_lowlevel.h> and passthrough_helpers.h, and the HAVE_* macros it tests (fallocate,
        // copy_file_range) are write paths a read-only benchmark never reaches, so no config.h.
        string[] compile = ["-O2", "-Wall", SourceFiles[0], .. flags.StandardOutput.Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries)];

        var directory = Path.Combine(workDirectory, SystemName);
        var binary = Path.Combine(directory, SystemName);
        var stampPath = binary + ".stamp";
        var identity = $"{sourcePackage} {version}\ngcc {string.Join(' ', compile)}\n";
        if (File.Exists(binary) && File.Exists(stampPath) && File.ReadAllText(stampPath) is var stamp && stamp.StartsWith(identity, StringComparison.Ordinal))
        {
            Console.Error.WriteLine($"e2e: reusing {binary}");
            return new PassthroughBinary(binary, Describe(sourcePackage, version, stamp[identity.Length..].Trim()));
        }

        Console.Error.WriteLine($"e2e: building {binary} from {sourcePackage} {version}'s example/passthrough_ll.c");
        Directory.CreateDirectory(directory);
        File.Delete(stampPath);
        File.Delete(binary);
        var sources = Path.Combine(directory, "src");
        if (Directory.Exists(sources)) Directory.Delete(sources, recursive: true);
        Directory.CreateDirectory(sources);
        var origin = FromInstalledExamples(sources, out var whyNot) ?? FromAptSource(directory, sources, sourcePackage, version, whyNot);

        var gcc = ExternalCommand.Run("gcc", [.. compile, "-o", binary], timeout: TimeSpan.FromMinutes(5), workingDirectory: sources);
        if (gcc.ExitCode != 0 || !File.Exists(binary)) throw new SystemUnavailable($"gcc could not build passthrough_ll.c: {CommandResult.FirstLines(gcc.StandardError)}");
        if (gcc.StandardError.Trim().Length > 0) origin += $"; gcc warned: {CommandResult.FirstLines(gcc.StandardError, 2)}";
        File.WriteAllText(stampPath, identity + origin + "\n");
        return new PassthroughBinary(binary, Describe(sourcePackage, version, origin));
    }

    private static string Describe(string sourcePackage, string version, string origin) =>
        $"libfuse {sourcePackage} {version}'s example/passthrough_ll.c ({origin}), built with `gcc -O2 -Wall passthrough_ll.c $(pkg-config --cflags --libs fuse3)`";

    /// <summary>The source package and version of the installed libfuse3-dev (fuse3 3.14.0-4 on Debian 12).</summary>
    private static (string SourcePackage, string Version) InstalledVersion()
    {
        var query = ExternalCommand.Run("dpkg-query", ["-W", "-f=${Status}|${source:Package}|${source:Version}", DevelopmentPackage], timeout: TimeSpan.FromSeconds(30));
        var fields = query.StandardOutput.Split('|');
        if (query.ExitCode != 0 || fields.Length != 3 || !fields[0].EndsWith("installed", StringComparison.Ordinal) || fields[0].Contains("not-installed", StringComparison.Ordinal))
            throw new SystemUnavailable($"{DevelopmentPackage} is not installed (./build.sh installs it)");
        return (fields[1], fields[2]);
    }

    /// <summary>
    /// Copies the two files from libfuse3-dev's examples when both are there and match the
    /// package's md5sums; returns where they came from, or null and why not.
    /// </summary>
    private static string? FromInstalledExamples(string sources, out string whyNot)
    {
        var control = ExternalCommand.Run("dpkg-query", ["--control-path", DevelopmentPackage, "md5sums"], timeout: TimeSpan.FromSeconds(30));
        var md5sums = control.StandardOutput.Trim();
        if (control.ExitCode != 0 || !File.Exists(md5sums))
        {
            whyNot = $"{DevelopmentPackage} has no md5sums to check its examples against";
            return null;
        }
        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(md5sums))
        {
            // "<md5>  usr/share/doc/libfuse3-dev/examples/passthrough_ll.c"
            var split = line.IndexOf("  ", StringComparison.Ordinal);
            if (split > 0) expected["/" + line[(split + 2)..]] = line[..split];
        }
        foreach (var file in SourceFiles)
        {
            var path = Path.Combine(ExamplesDirectory, file);
            if (!File.Exists(path))
            {
                whyNot = $"{path} is not installed";
                return null;
            }
            if (!expected.TryGetValue(path, out var md5) || md5 != Convert.ToHexStringLower(MD5.HashData(File.ReadAllBytes(path))))
            {
                whyNot = $"{path} differs from what {DevelopmentPackage} installed";
                return null;
            }
        }
        foreach (var file in SourceFiles) File.Copy(Path.Combine(ExamplesDirectory, file), Path.Combine(sources, file));
        whyNot = "";
        return $"the installed {DevelopmentPackage}'s copy in {ExamplesDirectory}, checked against dpkg's md5sums";
    }

    /// <summary>
    /// `apt-get source --download-only PACKAGE=VERSION` with the system's sources turned into
    /// deb-src entries, in private list and cache directories, then the two files out of the
    /// orig tarball. apt checks the downloads against the signed Sources index.
    /// </summary>
    private static string FromAptSource(string directory, string sources, string sourcePackage, string version, string whyNotInstalled)
    {
        foreach (var tool in new[] { "apt-get", "tar", "xz" })
        {
            if (!ExternalCommand.OnPath(tool)) throw new SystemUnavailable($"{whyNotInstalled}, and {tool} is not there to fetch the source");
        }
        var apt = Path.Combine(directory, "apt");
        if (Directory.Exists(apt)) Directory.Delete(apt, recursive: true);
        foreach (var sub in new[] { "lists/partial", "cache/archives/partial", "sources.list.d", "download" }) Directory.CreateDirectory(Path.Combine(apt, sub));
        var (oneLine, deb822) = SourceLists();
        if (oneLine.Length == 0 && deb822.Length == 0) throw new SystemUnavailable($"{whyNotInstalled}, and /etc/apt lists no source to fetch it from");
        File.WriteAllText(Path.Combine(apt, "sources.list"), oneLine);
        File.WriteAllText(Path.Combine(apt, "sources.list.d", "deb-src.sources"), deb822);
        string[] settings =
        [
            "-q", "-o", $"Dir::Etc::SourceList={apt}/sources.list", "-o", $"Dir::Etc::SourceParts={apt}/sources.list.d",
            "-o", $"Dir::State::Lists={apt}/lists", "-o", $"Dir::Cache={apt}/cache",
        ];
        Console.Error.WriteLine($"e2e: fetching {sourcePackage} {version}'s source with apt-get ({whyNotInstalled})");
        // A source without deb-src makes update exit non-zero while the others were fetched; source says whether it was enough.
        var update = ExternalCommand.Run("apt-get", [.. settings, "update"], timeout: TimeSpan.FromMinutes(10));
        var download = Path.Combine(apt, "download");
        var fetch = ExternalCommand.Run("apt-get", [.. settings, "source", "--download-only", $"{sourcePackage}={version}"], timeout: TimeSpan.FromMinutes(10), workingDirectory: download);
        if (fetch.ExitCode != 0)
        {
            throw new SystemUnavailable($"{whyNotInstalled}, and `apt-get source --download-only {sourcePackage}={version}` failed: {CommandResult.FirstLines(fetch.StandardError)}"
                + (update.ExitCode != 0 ? $" (apt-get update: {CommandResult.FirstLines(update.StandardError)})" : ""));
        }
        var upstream = UpstreamVersion(version);
        var orig = Directory.GetFiles(download, $"{sourcePackage}_{upstream}.orig.tar.*").FirstOrDefault(f => !f.EndsWith(".asc", StringComparison.Ordinal))
            ?? throw new SystemUnavailable($"apt-get source fetched no {sourcePackage}_{upstream}.orig.tar.*");
        // The installed package is the orig source plus Debian's patches; if one touched the example, the tarball alone would not be it.
        var debian = Directory.GetFiles(download, $"{sourcePackage}_{version[(version.IndexOf(':') + 1)..]}.debian.tar.*").FirstOrDefault();
        if (debian is not null)
        {
            var patches = ExternalCommand.Run("tar", ["-xOf", debian, "--wildcards", "debian/patches/*"], timeout: TimeSpan.FromMinutes(2));
            if (ExamplePatch().IsMatch(patches.StandardOutput)) throw new SystemUnavailable($"Debian's patches for {sourcePackage} {version} change example/passthrough_ll.c; install {DevelopmentPackage}'s examples instead");
        }
        ExternalCommand.Run("tar", ["-xf", orig, "-C", sources, "--no-same-owner", "--strip-components=2", "--wildcards", .. SourceFiles.Select(f => "*/example/" + f)], timeout: TimeSpan.FromMinutes(2)).EnsureSuccess();
        foreach (var file in SourceFiles)
        {
            if (!File.Exists(Path.Combine(sources, file))) throw new SystemUnavailable($"{Path.GetFileName(orig)} holds no example/{file}");
        }
        // The indexes (some 20 MB) served only this fetch; the downloaded source stays beside the binary.
        Directory.Delete(Path.Combine(apt, "lists"), recursive: true);
        Directory.Delete(Path.Combine(apt, "cache"), recursive: true);
        return $"`apt-get source {sourcePackage}={version}`'s {Path.GetFileName(orig)}, as {whyNotInstalled}";
    }

    /// <summary>The system's apt sources as deb-src entries: one-line lists and deb822 .sources files.</summary>
    private static (string OneLine, string Deb822) SourceLists()
    {
        var oneLine = new List<string>();
        var deb822 = new List<string>();
        var listFiles = new List<string>();
        if (File.Exists("/etc/apt/sources.list")) listFiles.Add("/etc/apt/sources.list");
        if (Directory.Exists("/etc/apt/sources.list.d"))
        {
            listFiles.AddRange(Directory.GetFiles("/etc/apt/sources.list.d", "*.list").Order(StringComparer.Ordinal));
            foreach (var file in Directory.GetFiles("/etc/apt/sources.list.d", "*.sources").Order(StringComparer.Ordinal))
            {
                deb822.AddRange(File.ReadLines(file).Select(l => l.StartsWith("Types:", StringComparison.OrdinalIgnoreCase) ? "Types: deb-src" : l));
                deb822.Add("");
            }
        }
        foreach (var line in listFiles.SelectMany(File.ReadLines).Select(l => l.Trim()))
        {
            if (line.StartsWith("deb ", StringComparison.Ordinal) || line.StartsWith("deb\t", StringComparison.Ordinal)) oneLine.Add("deb-src" + line[3..]);
            else if (line.StartsWith("deb-src", StringComparison.Ordinal)) oneLine.Add(line);
        }
        return (string.Join('\n', oneLine.Distinct(StringComparer.Ordinal)) + (oneLine.Count > 0 ? "\n" : ""), string.Join('\n', deb822));
    }

    /// <summary>3.14.0-4 → 3.14.0; 1:2.0-1 → 2.0 (no epoch, no Debian revision).</summary>
    private static string UpstreamVersion(string version)
    {
        var withoutEpoch = version[(version.IndexOf(':') + 1)..];
        var revision = withoutEpoch.LastIndexOf('-');
        return revision > 0 ? withoutEpoch[..revision] : withoutEpoch;
    }

    [GeneratedRegex(@"^\+\+\+ \S*example/passthrough_(ll\.c|helpers\.h)", RegexOptions.Multiline)]
    private static partial Regex ExamplePatch();
}

/// <summary>
/// passthrough_ll keeps an O_PATH descriptor open for every inode the kernel holds, and with
/// cache=always the kernel holds every one it looked up, so walking the tree needs about one
/// descriptor per entry. When the inherited limit is too low the server is started through
/// `prlimit --nofile=N:N` (root can raise it unless it lacks CAP_SYS_RESOURCE); when that is
/// refused too, the note says why its tree workloads may fail with EMFILE.
/// </summary>
internal sealed record DescriptorBudget(IReadOnlyList<string> Launcher, string Note)
{
    /// <summary>Room above one descriptor per tree entry: big.bin, libfuse's own, open files.</summary>
    private const long Headroom = 4096;

    public static DescriptorBudget For(long treeEntries)
    {
        var (soft, hard) = CurrentLimit();
        var needed = treeEntries + Headroom;
        var limit = soft == long.MaxValue ? "unlimited" : soft.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
        if (soft >= needed) return new([], $"its descriptor limit ({limit}) covers the tree's {treeEntries:N0} entries, one O_PATH descriptor each");
        string[] launcher = ["prlimit", $"--nofile={needed}:{needed}", "--"];
        var why = "prlimit is not installed";
        if (ExternalCommand.OnPath("prlimit"))
        {
            var probe = ExternalCommand.Run("prlimit", [.. launcher[1..], "true"], timeout: TimeSpan.FromSeconds(30));
            if (probe.ExitCode == 0) return new(launcher, $"started through `prlimit --nofile={needed}:{needed}`: it holds one O_PATH descriptor per inode and the tree has {treeEntries:N0} entries, more than the inherited limit ({limit})");
            why = CommandResult.FirstLines(probe.StandardError, 1);
        }
        return new([], $"**its descriptor limit ({limit}, hard {(hard == long.MaxValue ? "unlimited" : hard.ToString("N0", System.Globalization.CultureInfo.InvariantCulture))}) is below the tree's {treeEntries:N0} entries and could not be raised ({why})**: it holds one O_PATH descriptor per inode the kernel keeps, and with cache=always the kernel keeps every one, so its W3, W4 and tree verification fail with EMFILE (Too many open files) unless the kernel happens to evict inodes while they run (memory reclaim, another process's drop_caches); its W4 figure, when there is one, is such a lucky run");
    }

    /// <summary>RLIMIT_NOFILE as children inherit it, from /proc/self/limits.</summary>
    private static (long Soft, long Hard) CurrentLimit()
    {
        foreach (var line in File.ReadLines("/proc/self/limits"))
        {
            if (!line.StartsWith("Max open files", StringComparison.Ordinal)) continue;
            var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            static long Parse(string field) => field == "unlimited" ? long.MaxValue : long.Parse(field, System.Globalization.CultureInfo.InvariantCulture);
            return (Parse(fields[0]), Parse(fields[1]));
        }
        return (long.MaxValue, long.MaxValue);
    }
}
