using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// What a system returned, reduced to digests that must be equal across systems: SHA-256 of the
/// big file, and an ordering-independent digest of the tree as tar streamed it. The tree digest
/// keeps what every system must agree on (path, type, size, executable bit, symlink target,
/// content SHA-256) and drops what legitimately differs (mode bits beyond x, owners, times,
/// directory sizes, tar's entry order and hard-link detection).
/// </summary>
internal sealed record ContentDigest(string BigFileSha256, string TreeDigest, IReadOnlyList<string> TreeEntries)
{
    public static ContentDigest Of(MountedFileSystem mounted) =>
        new(Sha256OfFile(mounted.BigFile), TreeDigestOf(mounted.Tree, out var entries), entries);

    /// <summary>The first entry where two listings differ, for the failure message.</summary>
    public static string FirstDifference(ContentDigest expected, ContentDigest actual)
    {
        var missing = expected.TreeEntries.Except(actual.TreeEntries).FirstOrDefault();
        var extra = actual.TreeEntries.Except(expected.TreeEntries).FirstOrDefault();
        return $"expected entry {missing ?? "(none)"} / got {extra ?? "(none)"}; {actual.TreeEntries.Count} entries vs {expected.TreeEntries.Count}";
    }

    private static string Sha256OfFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static string TreeDigestOf(string tree, out IReadOnlyList<string> entries)
    {
        var info = ExternalCommand.StartInfo("tar", ["-cf", "-", "-C", tree, "."]);
        using var tar = ExternalCommand.Start(info);
        // The reader below blocks on tar's output; a server that stops answering must not hang the run.
        using var watchdog = new Timer(_ => { try { tar.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }, null, 2 * Workloads.Limit, Timeout.InfiniteTimeSpan);
        var error = tar.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        var contentByPath = new Dictionary<string, string>(StringComparer.Ordinal);
        using (var reader = new TarReader(tar.StandardOutput.BaseStream))
        {
            while (reader.GetNextEntry(copyData: false) is { } entry)
            {
                var path = Normalize(entry.Name);
                var executable = (entry.Mode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0 ? "x" : "-";
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        lines.Add($"d {path}");
                        break;
                    case TarEntryType.SymbolicLink:
                        lines.Add($"l {path} -> {entry.LinkName}");
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        var sha = entry.DataStream is null ? Convert.ToHexStringLower(SHA256.HashData(ReadOnlySpan<byte>.Empty)) : Convert.ToHexStringLower(SHA256.HashData(entry.DataStream));
                        contentByPath[path] = $"{entry.Length} {sha}";
                        lines.Add($"f {path} {executable} {entry.Length} {sha}");
                        break;
                    case TarEntryType.HardLink:
                        // tar saw nlink > 1 and the same inode: the content is the earlier entry's.
                        var target = Normalize(entry.LinkName);
                        lines.Add($"f {path} {executable} {(contentByPath.TryGetValue(target, out var content) ? content : "hard link to missing " + target)}");
                        break;
                    default:
                        lines.Add($"? {path} {entry.EntryType}");
                        break;
                }
            }
        }
        ExternalCommand.WaitOrKill(tar, 2 * Workloads.Limit, ExternalCommand.Describe(info));
        Teardown.Instance.ForgetProcess(tar);
        if (tar.ExitCode != 0) throw new BenchmarkFailure($"tar of {tree} for verification exited with {tar.ExitCode}: {CommandResult.FirstLines(error.Result)}");
        lines.Sort(StringComparer.Ordinal);
        entries = lines;
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', lines))));
    }

    private static string Normalize(string name)
    {
        var path = name.StartsWith("./", StringComparison.Ordinal) ? name[2..] : name == "." ? "" : name;
        return path.TrimEnd('/');
    }
}
