using TvixLowFs.Bench.E2e;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// The source trees the binary caches are made from: PACKAGES/pkg-NNN (one store path each) and
/// BIG/big.bin + BIG/small.txt (the path whose NAR the first-byte measurement waits for). Every
/// name, size and byte comes from fixed-seed PRNGs, so the plan, and with it the manifest, is
/// known before anything is written and a rebuild is byte-identical.
/// </summary>
internal sealed class ClosureCorpus
{
    /// <summary>Bump when the layout or content rules change, so cached corpora are rebuilt.</summary>
    public const int GeneratorVersion = 1;

    public const string SmallFileName = "small.txt";
    public static ReadOnlySpan<byte> SmallFileContent => "the small file of a store path whose NAR is mostly one big file\n"u8;

    private const ulong PlanSeed = 0x636C_6F73_7572_6573; // "closures"
    private const ulong BigFileSeed = 0x6269_676E_6172_6669; // "bignarfi"
    private const int BlockBytes = 1 << 20;

    private static readonly string[] Directories = ["bin", "lib", "lib/pkgconfig", "include", "include/detail", "share/doc", "share/data", "src", "src/core", "src/util"];
    private static readonly string[] Extensions = [".c", ".h", ".py", ".txt", ".json", ""];

    private readonly List<PlannedFile> files = [];
    private readonly List<(string Path, string Target)> symlinks = [];

    public ClosureShape Shape { get; }
    public IReadOnlyList<string> PackageNames { get; }
    /// <summary>Bytes of file content over all packages (their NARs add names and framing).</summary>
    public long PackageFileBytes { get; }
    public int PackageFileCount => files.Count;

    public ClosureCorpus(ClosureShape shape)
    {
        Shape = shape;
        PackageNames = [.. Enumerable.Range(0, shape.PackageCount).Select(i => $"pkg-{i:D3}")];
        var random = new DeterministicRandom(PlanSeed);
        foreach (var package in PackageNames)
        {
            for (var j = 0; j < shape.SmallFiles; j++)
            {
                var directory = Directories[random.Next(Directories.Length)];
                var executable = directory == "bin" || random.NextDouble() < 0.05;
                Plan(ref random, $"{package}/{directory}/f{j:D4}{Extensions[random.Next(Extensions.Length)]}", random.Between(64, 8 << 10), executable, text: true);
            }
            for (var j = 0; j < shape.MediumFiles; j++)
            {
                Plan(ref random, $"{package}/{(j % 2 == 0 ? "share/data" : "lib")}/m{j:D2}.dat", random.Between(32 << 10, 512 << 10), executable: false, text: random.NextDouble() < 0.75);
            }
            Plan(ref random, $"{package}/lib/lib{package}.so", random.Between(shape.LargeFileMinBytes, shape.LargeFileMaxBytes), executable: true, text: false);
            Plan(ref random, $"{package}/share/doc/large.txt", random.Between(shape.LargeFileMinBytes, shape.LargeFileMaxBytes), executable: false, text: true);
            symlinks.Add(($"{package}/lib/lib{package}.so.1", $"lib{package}.so"));
            symlinks.Add(($"{package}/share/doc/README", "../../src/core"));
        }
        PackageFileBytes = files.Sum(f => (long)f.Size);
        if (PackageFileBytes < shape.MinimumClosureBytes)
        {
            throw new InvalidOperationException($"the {shape.Name} shape plans {PackageFileBytes >> 20} MiB, less than its {shape.MinimumClosureBytes >> 20} MiB");
        }
    }

    public string Describe() =>
        $"{Shape.PackageCount} packages of {PackageFileBytes / (double)(1 << 20):0} MiB in {PackageFileCount:N0} files and {symlinks.Count} symlinks "
        + $"(text that looks like source code, a quarter of the medium and half of the large files random bytes) plus a root referencing them all; "
        + $"the first-byte path: a {Shape.BigNarFileBytes >> 20} MiB file (1 MiB blocks alternating text and random) beside {SmallFileName}";

    public string Manifest() =>
        $"generator={GeneratorVersion}\nshape={Shape}\npackage-file-bytes={PackageFileBytes}\nfiles={PackageFileCount}\nsymlinks={symlinks.Count}\n";

    /// <summary>Writes the packages under packagesDirectory and the first-byte tree into bigDirectory.</summary>
    public void Write(string packagesDirectory, string bigDirectory)
    {
        foreach (var package in PackageNames)
        {
            foreach (var directory in Directories) Directory.CreateDirectory(Path.Combine(packagesDirectory, package, directory));
        }
        var buffer = new byte[Shape.LargeFileMaxBytes];
        foreach (var file in files)
        {
            var random = new DeterministicRandom(file.Seed);
            if (file.Text) PseudoSourceText.Fill(buffer.AsSpan(0, file.Size), ref random);
            else random.Fill(buffer.AsSpan(0, file.Size));
            WriteFile(Path.Combine(packagesDirectory, file.Path), file.Executable, stream => stream.Write(buffer, 0, file.Size));
        }
        foreach (var (path, target) in symlinks) File.CreateSymbolicLink(Path.Combine(packagesDirectory, path), target);

        Directory.CreateDirectory(bigDirectory);
        WriteFile(Path.Combine(bigDirectory, "big.bin"), executable: false, stream =>
        {
            var random = new DeterministicRandom(BigFileSeed);
            for (long offset = 0, block = 0; offset < Shape.BigNarFileBytes; offset += BlockBytes, block++)
            {
                var chunk = buffer.AsSpan(0, (int)Math.Min(BlockBytes, Shape.BigNarFileBytes - offset));
                if (block % 2 == 0) PseudoSourceText.Fill(chunk, ref random);
                else random.Fill(chunk);
                stream.Write(chunk);
            }
        });
        var small = SmallFileContent.ToArray();
        WriteFile(Path.Combine(bigDirectory, SmallFileName), executable: false, stream => stream.Write(small));
    }

    private void Plan(ref DeterministicRandom random, string path, int size, bool executable, bool text) =>
        files.Add(new PlannedFile(path, size, executable, text, random.NextUInt64()));

    private static void WriteFile(string path, bool executable, Action<FileStream> write)
    {
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        if (executable) mode |= UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        using (var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode, BufferSize = 0 }))
        {
            write(stream);
        }
        File.SetUnixFileMode(path, mode); // the umask must not decide the mode
    }

    private sealed record PlannedFile(string Path, int Size, bool Executable, bool Text, ulong Seed);
}
