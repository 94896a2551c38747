using System.Diagnostics;
using System.Text;
using TvixLowFs.Bench.E2e;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// The binary caches every measurement reads, made by real Nix from the <see cref="ClosureCorpus"/>:
/// `nix-store --add` of each package into a chroot store, a `nix-build` root whose output names
/// them all (so one root names the closure), then `nix copy --to file://…` signed with a key from
/// `nix-store --generate-binary-cache-key`: the closure with xz and with zstd, the packages as one
/// path with compression=none (the NAR ingestion measurement) and the first-byte path with xz and
/// with zstd. Kept in the work directory while the manifest (generator, shape, Nix version)
/// matches; the source trees and the chroot store are deleted once the caches exist.
/// </summary>
/// <param name="RootPath">The closure root: an input-addressed path whose references are every package.</param>
/// <param name="ContentsPath">Every package in one store path: one big uncompressed NAR.</param>
/// <param name="BigPath">The first-byte path: big.bin and small.txt.</param>
/// <param name="Uncompressed">The compression=none cache holding ContentsPath.</param>
internal sealed record BinaryCacheFixtures(
    ClosureCorpus Corpus, string PublicKey, string RootPath, string ContentsPath, string BigPath,
    BinaryCacheDirectory Xz, BinaryCacheDirectory Zstd, BinaryCacheDirectory Uncompressed, BinaryCacheDirectory BigXz, BinaryCacheDirectory BigZstd)
{
    private const string KeyName = "tvixlowfs-bench-binary-cache-1";
    private const string ContentsName = "closure-contents";
    private const string BigName = "big-nar";

    /// <summary>
    /// How the xz caches are written: preset 1 with parallel-compression. At Nix's default preset
    /// (6), single-threaded, this machine's xz compressed about 8 MiB a minute under load: over two
    /// hours for the full corpus. Preset 1 has a 1 MiB dictionary and so 3 MiB blocks, which
    /// parallel-compression spreads over every core. Every xz decoder reads the block sequence as
    /// one stream, and Nix 2.8 and `xz -dc` (5.4, default one thread) decompress it on one thread;
    /// decoding costs about the same per byte at any preset (it depends on the ratio, not the search).
    /// </summary>
    public const string XzParameters = "compression=xz&compression-level=1&parallel-compression=true";

    public static BinaryCacheFixtures Ensure(ClosureShape shape, string profile, string nixVersion)
    {
        var corpus = new ClosureCorpus(shape);
        var manifestPath = Path.Combine(profile, "caches.manifest");
        var expected = corpus.Manifest() + $"nix={nixVersion}\nxz={XzParameters}\n";
        if (File.Exists(manifestPath) && File.ReadAllText(manifestPath) is var stamp && stamp.StartsWith(expected, StringComparison.Ordinal))
        {
            var facts = stamp[expected.Length..].Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2)).ToDictionary(f => f[0], f => f[1]);
            Log($"reusing the binary caches under {Path.Combine(profile, "caches")}");
            return Load(corpus, profile, facts["public-key"], facts["root"], facts["contents"], facts["big"]);
        }
        File.Delete(manifestPath);
        var built = Build(corpus, profile);
        File.WriteAllText(manifestPath, expected + $"public-key={built.PublicKey}\nroot={built.RootPath}\ncontents={built.ContentsPath}\nbig={built.BigPath}\n");
        return built;
    }

    private static BinaryCacheFixtures Load(ClosureCorpus corpus, string profile, string publicKey, string root, string contents, string big)
    {
        var caches = Path.Combine(profile, "caches");
        BinaryCacheDirectory Cache(string name, string directory) => BinaryCacheDirectory.Load(name, Path.Combine(caches, directory));
        return new BinaryCacheFixtures(corpus, publicKey, root, contents, big,
            Cache("closure, xz", "xz"), Cache("closure, zstd", "zstd"), Cache("contents, none", "none"),
            Cache("first-byte path, xz", "big-xz"), Cache("first-byte path, zstd", "big-zstd"));
    }

    private static BinaryCacheFixtures Build(ClosureCorpus corpus, string profile)
    {
        var tree = Path.Combine(profile, "tree");
        var chroot = Path.Combine(profile, "nix-chroot");
        var caches = Path.Combine(profile, "caches");
        var nixCache = Path.Combine(profile, "nix-cache-home");
        foreach (var stale in new[] { tree, chroot, caches, nixCache }) DeleteTree(stale);
        var clock = Stopwatch.StartNew();
        Log($"generating the corpus under {tree}: {corpus.Describe()}");
        var contents = Path.Combine(tree, ContentsName);
        corpus.Write(contents, Path.Combine(tree, BigName));
        Log($"generated in {clock.Elapsed.TotalSeconds:0} s; adding it to the chroot store {chroot}");

        string Nix(string tool, params string[] arguments) =>
            RealNix.Run(tool, nixCache, arguments, TimeSpan.FromMinutes(60)).EnsureSuccess().StandardOutput;

        var added = Lines(Nix("nix-store", ["--store", chroot, "--add", .. corpus.PackageNames.Select(p => Path.Combine(contents, p)), contents, Path.Combine(tree, BigName)]));
        if (added.Count != corpus.PackageNames.Count + 2) throw new BenchmarkFailure($"nix-store --add printed {added.Count} paths for {corpus.PackageNames.Count + 2} trees");
        var packages = added.Take(corpus.PackageNames.Count).ToList();
        var (contentsPath, bigPath) = (added[^2], added[^1]);

        var expression = Path.Combine(profile, "closure-root.nix");
        File.WriteAllText(expression, RootExpression(packages));
        // A chroot store builds in the sandbox only; /bin/sh is Debian's dash, so it needs the host's libraries.
        var root = Lines(Nix("nix-build", ["--store", chroot, "--option", "sandbox", "true", "--option", "sandbox-paths", "/bin /lib /lib64 /usr", "--no-out-link", expression])).Single();
        var closure = Lines(Nix("nix-store", ["--store", chroot, "--query", "--requisites", root]));
        if (closure.Count != packages.Count + 1) throw new BenchmarkFailure($"the closure of {root} has {closure.Count} paths, not {packages.Count + 1}");

        var secretKey = Path.Combine(profile, "cache-key.secret");
        var publicKeyFile = Path.Combine(profile, "cache-key.public");
        File.Delete(secretKey);
        File.Delete(publicKeyFile);
        Nix("nix-store", ["--generate-binary-cache-key", KeyName, secretKey, publicKeyFile]);
        var publicKey = File.ReadAllText(publicKeyFile).Trim();

        foreach (var (directory, parameters, path) in new[] { ("xz", XzParameters, root), ("zstd", "compression=zstd", root), ("none", "compression=none", contentsPath), ("big-xz", XzParameters, bigPath), ("big-zstd", "compression=zstd", bigPath) })
        {
            var step = Stopwatch.StartNew();
            var url = $"file://{Path.Combine(caches, directory)}?{parameters}&secret-key={secretKey}";
            Nix("nix", ["copy", "--store", chroot, "--to", url, path]);
            Log($"  nix copy --to {url} {path}: {step.Elapsed.TotalSeconds:0} s");
        }

        var fixtures = Load(corpus, profile, publicKey, root, contentsPath, bigPath);
        if (fixtures.Xz.Paths.Count != closure.Count || fixtures.Zstd.Paths.Count != closure.Count)
            throw new BenchmarkFailure($"the xz and zstd caches hold {fixtures.Xz.Paths.Count} and {fixtures.Zstd.Paths.Count} paths, not the closure's {closure.Count}");
        if (fixtures.Xz.NarBytes < corpus.Shape.MinimumClosureBytes)
            throw new BenchmarkFailure($"the closure's NARs are {fixtures.Xz.NarBytes >> 20} MiB, less than {corpus.Shape.MinimumClosureBytes >> 20} MiB");
        // Only the caches are measured; the trees and the chroot store would take another 1.5 GB.
        DeleteTree(tree);
        DeleteTree(chroot);
        DeleteTree(nixCache);
        Log($"binary caches ready in {clock.Elapsed.TotalMinutes:0.0} min: {fixtures.Xz.Describe()}; zstd {fixtures.Zstd.FileBytes / (double)(1 << 20):0.0} MiB");
        return fixtures;
    }

    /// <summary>
    /// A derivation whose output names every package, so Nix's reference scan gives the root all of
    /// them; builtins.storePath keeps them as they are instead of copying them into the store again.
    /// </summary>
    private static string RootExpression(IReadOnlyList<string> packages)
    {
        var text = new StringBuilder("derivation {\n  name = \"closure-root\";\n  system = builtins.currentSystem;\n  builder = \"/bin/sh\";\n  args = [ \"-c\" \"echo");
        foreach (var package in packages) text.Append(" ${builtins.storePath \"").Append(package).Append("\"}");
        text.Append(" > $out\" ];\n}\n");
        return text.ToString();
    }

    private static List<string> Lines(string output) =>
        [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    public static void DeleteTree(string directory)
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    private static void Log(string message) => BinaryCacheBenchmark.Log(message);
}
