using System.Security.Cryptography;
using System.Text;

namespace TvixLowFs.Bench.E2e;

/// <summary>How big the corpus is: the full one of issue 5, or a small one for smoke runs.</summary>
internal sealed record CorpusShape(string Name, long BigFileBytes, int FileCount, int DirectoryCount, int SymlinkCount)
{
    public static readonly CorpusShape Full = new("full", 512L << 20, 20_000, 2_000, 1_000);
    public static readonly CorpusShape Quick = new("quick", 64L << 20, 2_000, 200, 100);

    /// <summary>Entries `find TREE` prints: the tree root, its directories, files and symlinks.</summary>
    public long TreeEntryCount => 1L + DirectoryCount + FileCount + SymlinkCount;

    public string Describe() =>
        $"{BigFileBytes >> 20} MiB incompressible file; tree of {FileCount:N0} files in {DirectoryCount:N0} directories with {SymlinkCount:N0} symlinks";
}

/// <summary>
/// The deterministic corpus: DIR/big.bin and DIR/tree/. Every byte, name and size comes from
/// fixed-seed PRNGs, so a rebuild is identical. A manifest written last marks a complete build;
/// a matching manifest means the corpus is reused as is.
/// </summary>
internal sealed class Corpus
{
    /// <summary>Bump when the layout or content rules change, so old corpora are rebuilt.</summary>
    private const int GeneratorVersion = 1;

    private const ulong BigFileSeed = 0x7469_786C_6F77_6673; // "tixlowfs"
    private const ulong TreeSeed = 0x7472_6565_7365_6564;    // "treeseed"

    public CorpusShape Shape { get; }
    /// <summary>The directory that is imported, imaged and read natively.</summary>
    public string Directory { get; }
    public string BigFileName => "big.bin";
    public string TreeName => "tree";
    public long TreeFileBytes { get; private set; }
    public string ManifestText { get; private set; } = "";

    private readonly string manifestPath;

    public Corpus(CorpusShape shape, string profileDirectory)
    {
        Shape = shape;
        Directory = Path.Combine(profileDirectory, "corpus");
        manifestPath = Path.Combine(profileDirectory, "corpus.manifest");
    }

    public string ExpectedManifest(long treeFileBytes) => new StringBuilder()
        .Append("generator=").Append(GeneratorVersion).Append('\n')
        .Append("shape=").Append(Shape.Name).Append('\n')
        .Append("big-file-bytes=").Append(Shape.BigFileBytes).Append('\n')
        .Append("files=").Append(Shape.FileCount).Append('\n')
        .Append("directories=").Append(Shape.DirectoryCount).Append('\n')
        .Append("symlinks=").Append(Shape.SymlinkCount).Append('\n')
        .Append("tree-file-bytes=").Append(treeFileBytes).Append('\n')
        .ToString();

    /// <summary>A short fingerprint of the manifest, for the image and store stamps.</summary>
    public string Fingerprint => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ManifestText)))[..16];

    public void EnsureBuilt()
    {
        var plan = TreePlan.Create(Shape);
        var expected = ExpectedManifest(plan.TotalFileBytes);
        TreeFileBytes = plan.TotalFileBytes;
        if (File.Exists(manifestPath) && File.ReadAllText(manifestPath) == expected && System.IO.Directory.Exists(Directory))
        {
            ManifestText = expected;
            Console.Error.WriteLine($"e2e: reusing the corpus at {Directory}");
            return;
        }
        Console.Error.WriteLine($"e2e: building the corpus at {Directory} ({Shape.Describe()})");
        File.Delete(manifestPath);
        if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
        System.IO.Directory.CreateDirectory(Directory);
        WriteBigFile(Path.Combine(Directory, BigFileName), Shape.BigFileBytes);
        plan.Write(Path.Combine(Directory, TreeName));
        File.WriteAllText(manifestPath, expected);
        ManifestText = expected;
    }

    private static void WriteBigFile(string path, long length)
    {
        var random = new DeterministicRandom(BigFileSeed);
        var buffer = new byte[1 << 20];
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0);
        for (long written = 0; written < length; written += buffer.Length)
        {
            var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, length - written));
            random.Fill(chunk);
            stream.Write(chunk);
        }
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    /// <summary>
    /// Names, sizes and places of everything in the tree, decided up front from one PRNG so the
    /// plan (and the manifest's byte total) is known before anything is written.
    /// </summary>
    private sealed class TreePlan
    {
        private readonly List<string> directories = [""]; // relative paths; index 0 is the tree root
        private readonly List<(string Path, int Size, bool Executable, ulong Seed)> files = [];
        private readonly List<(string Path, string Target)> symlinks = [];

        public long TotalFileBytes { get; private set; }

        private static readonly string[] Extensions = [".txt", ".so", ".h", ".py", "", ".json", ".a"];

        public static TreePlan Create(CorpusShape shape)
        {
            var plan = new TreePlan();
            var random = new DeterministicRandom(TreeSeed);
            var topLevel = Math.Max(1, shape.DirectoryCount / 50);
            for (var i = 0; i < shape.DirectoryCount; i++)
            {
                // A few top-level packages, then each directory under a random earlier one: depths vary.
                var parent = i < topLevel ? 0 : 1 + random.Next(i);
                var name = i < topLevel ? $"pkg-{i:D4}" : $"dir-{i:D4}";
                plan.directories.Add(Join(plan.directories[parent], name));
            }
            for (var j = 0; j < shape.FileCount; j++)
            {
                var directory = j < shape.DirectoryCount ? j + 1 : random.Next(plan.directories.Count);
                var extension = Extensions[random.Next(Extensions.Length)];
                var roll = random.NextDouble();
                // Mostly small files, some medium, a few large; never empty (empty or duplicate
                // contents would share an inode in a content-addressed mount and turn into tar hard links).
                var size = roll < 0.75 ? random.Between(1, 4096)
                    : roll < 0.97 ? random.Between(4097, 32 << 10)
                    : random.Between((32 << 10) + 1, 256 << 10);
                var executable = random.NextDouble() < 0.1;
                plan.files.Add((Join(plan.directories[directory], $"file-{j:D5}{extension}"), size, executable, TreeSeed ^ (ulong)(j + 1) * 0x9E3779B97F4A7C15));
                plan.TotalFileBytes += size;
            }
            var stride = Math.Max(1, shape.FileCount / Math.Max(1, shape.SymlinkCount));
            for (var k = 0; k < shape.SymlinkCount; k++)
            {
                if (k % 10 == 0)
                {
                    // A link from the tree root to a directory, relative.
                    var target = plan.directories[1 + (k * 7) % shape.DirectoryCount];
                    plan.symlinks.Add(($"link-{k:D4}", target));
                }
                else
                {
                    // A link beside a file, to that file (distinct targets, so distinct symlink inodes).
                    var file = plan.files[(k * stride) % plan.files.Count].Path;
                    var directory = Path.GetDirectoryName(file) ?? "";
                    plan.symlinks.Add((Join(directory, $"link-{k:D4}"), Path.GetFileName(file)));
                }
            }
            return plan;
        }

        public void Write(string root)
        {
            System.IO.Directory.CreateDirectory(root);
            foreach (var directory in directories.Skip(1)) System.IO.Directory.CreateDirectory(Path.Combine(root, directory));
            var buffer = new byte[256 << 10];
            foreach (var (path, size, executable, seed) in files)
            {
                var random = new DeterministicRandom(seed);
                var content = buffer.AsSpan(0, size);
                random.Fill(content);
                var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
                if (executable) mode |= UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
                using (var stream = new FileStream(Path.Combine(root, path), new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode, BufferSize = 0 }))
                {
                    stream.Write(content);
                }
                File.SetUnixFileMode(Path.Combine(root, path), mode); // the umask must not decide the mode
            }
            foreach (var (path, target) in symlinks) File.CreateSymbolicLink(Path.Combine(root, path), target);
        }

        private static string Join(string parent, string name) => parent.Length == 0 ? name : parent + "/" + name;
    }
}
