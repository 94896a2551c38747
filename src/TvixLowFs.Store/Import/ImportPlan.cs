using System.Text;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Import;

/// <summary>
/// A path walked and checked, not yet stored: the tree as import will store it. Planning every
/// path first lets bad input (a fifo deep in a tree, an invalid name) fail before anything is written.
/// </summary>
public sealed class ImportPlan
{
    internal ImportPlan(string sourcePath, string name, PlannedNode root, IReadOnlyList<PlannedFile> files, long byteCount)
    {
        SourcePath = sourcePath;
        Name = name;
        Root = root;
        Files = files;
        ByteCount = byteCount;
    }

    /// <summary>The absolute path that was walked.</summary>
    public string SourcePath { get; }

    /// <summary>The store path name: the basename of <see cref="SourcePath"/>.</summary>
    public string Name { get; }

    internal PlannedNode Root { get; }
    /// <summary>Every regular file, in NAR order (depth first, entries sorted bytewise).</summary>
    internal IReadOnlyList<PlannedFile> Files { get; }

    public int FileCount => Files.Count;

    /// <summary>Total size of the regular files, as lstat saw them.</summary>
    public long ByteCount { get; }

    /// <summary>
    /// Walks <paramref name="path"/> without following symlinks (as <c>nix-store --add</c> does).
    /// Throws <see cref="ImportException"/> naming the first offending path.
    /// </summary>
    public static ImportPlan Create(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (full.Length > 1)
            full = Path.TrimEndingDirectorySeparator(full);
        // Like nix-store --add, the name is the last component of the path as given (so "." and ".." are refused).
        string trimmed = path.TrimEnd('/');
        string name = trimmed.Length == 0 ? "" : Path.GetFileName(trimmed);
        if (StorePath.NameProblem(name) is { } problem)
            throw new ImportException(path, $"'{NodeNames.Escape(name)}' is not a valid store path name: {problem}");
        PlannedNode root = Walk(full, [], parallelChildren: true);
        var files = new List<PlannedFile>();
        long bytes = 0;
        Collect(root, files, ref bytes);
        return new ImportPlan(full, name, root, files, bytes);
    }

    /// <summary>Lists the files in NAR order (depth first, entries sorted) and numbers them.</summary>
    private static void Collect(PlannedNode node, List<PlannedFile> files, ref long bytes)
    {
        switch (node)
        {
            case PlannedFile file:
                file.Index = files.Count;
                files.Add(file);
                bytes += file.Size;
                break;
            case PlannedDirectory directory:
                foreach (PlannedNode child in directory.Children)
                    Collect(child, files, ref bytes);
                break;
        }
    }

    private static readonly EnumerationOptions AllEntries = new()
    {
        AttributesToSkip = 0,
        IgnoreInaccessible = false,
        MatchType = MatchType.Simple,
        RecurseSubdirectories = false,
        ReturnSpecialDirectories = false,
    };

    private static PlannedNode Walk(string path, byte[] name, bool parallelChildren)
    {
        uint mode;
        long size;
        try
        {
            (mode, size) = StoreFiles.LStat(path);
        }
        catch (FileNotFoundException)
        {
            throw new ImportException(path, "no such file or directory");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImportException(path, SystemErrorText.Of(e));
        }

        switch (mode & Interop.Libc.S_IFMT)
        {
            case Interop.Libc.S_IFREG:
                // Nix (and tvix) look at the owner's execute bit only.
                return new PlannedFile(path, name, (mode & Interop.Libc.S_IXUSR) != 0, size);
            case Interop.Libc.S_IFLNK:
                string target;
                try
                {
                    target = new FileInfo(path).LinkTarget ?? throw new IOException("not a symlink any more");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ImportException(path, $"cannot read the symlink: {SystemErrorText.Of(e)}");
                }
                return new PlannedSymlink(path, name, Utf8Exactly(path, target, "symlink target"));
            case Interop.Libc.S_IFDIR:
                return WalkDirectory(path, name, parallelChildren);
            default:
                throw new ImportException(path, $"is a {KindOf(mode)}; only regular files, directories and symlinks can be imported");
        }
    }

    private static PlannedDirectory WalkDirectory(string path, byte[] name, bool parallelChildren)
    {
        var children = new List<(byte[] Name, string Path)>();
        try
        {
            foreach (string child in System.IO.Directory.EnumerateFileSystemEntries(path, "*", AllEntries))
            {
                string childName = Path.GetFileName(child);
                children.Add((Utf8Exactly(child, childName, "file name"), child));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImportException(path, $"cannot list the directory: {SystemErrorText.Of(e)}");
        }
        // Directory entries and NAR entries are ordered bytewise by name.
        children.Sort(static (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        var planned = new PlannedNode[children.Count];
        if (!parallelChildren || planned.Length < 2)
        {
            for (int i = 0; i < planned.Length; i++)
                planned[i] = Walk(children[i].Path, children[i].Name, parallelChildren: false);
            return new PlannedDirectory(path, name, planned);
        }
        // The top level's subtrees in parallel: a walk is a stat per entry, CPU-bound on a warm tree.
        // The error reported is still the first in walk order: the lowest child's.
        var errors = new Exception?[planned.Length];
        Parallel.For(0, planned.Length, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            try
            {
                planned[i] = Walk(children[i].Path, children[i].Name, parallelChildren: false);
            }
            catch (Exception e)
            {
                errors[i] = e;
            }
        });
        if (Array.Find(errors, e => e is not null) is { } first)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        return new PlannedDirectory(path, name, planned);
    }

    /// <summary>
    /// .NET hands out names as UTF-16, replacing bytes that are not UTF-8; such a name could not
    /// be stored faithfully, so it is refused rather than altered.
    /// </summary>
    private static byte[] Utf8Exactly(string path, string text, string what)
    {
        if (text.Contains('\uFFFD'))
            throw new ImportException(path, $"its {what} is not valid UTF-8, which import does not support");
        return Encoding.UTF8.GetBytes(text);
    }

    private static string KindOf(uint mode) => (mode & Interop.Libc.S_IFMT) switch
    {
        Interop.Libc.S_IFIFO => "fifo",
        Interop.Libc.S_IFSOCK => "socket",
        Interop.Libc.S_IFCHR => "character device",
        Interop.Libc.S_IFBLK => "block device",
        _ => $"file of unknown type (mode {Convert.ToString(mode, 8)})",
    };
}

internal abstract class PlannedNode(string path, byte[] name)
{
    public string Path { get; } = path;
    public byte[] Name { get; } = name;
}

internal sealed class PlannedFile(string path, byte[] name, bool executable, long size) : PlannedNode(path, name)
{
    public bool Executable { get; } = executable;

    /// <summary>Its place in <see cref="ImportPlan.Files"/>, which is NAR order.</summary>
    public int Index { get; set; }

    /// <summary>The size the walk saw: what the NAR announces, so ingest refuses a file whose size changed since.</summary>
    public long Size { get; } = size;

    // Filled by ingest: the digest of what was read and stored.
    public B3Digest Digest { get; set; }
}

internal sealed class PlannedSymlink(string path, byte[] name, byte[] target) : PlannedNode(path, name)
{
    public byte[] Target { get; } = target;
}

internal sealed class PlannedDirectory(string path, byte[] name, PlannedNode[] children) : PlannedNode(path, name)
{
    /// <summary>Sorted bytewise by name.</summary>
    public PlannedNode[] Children { get; } = children;
}
