using NUnit.Framework;

namespace TvixLowFs.Tests.BinaryCache.Http;

/// <summary>
/// Binary caches made by real Nix 2.8 for every compression it writes: a small tree (text, a
/// larger file, an executable, a symlink, an empty file, nested directories) is
/// <c>nix-store --add</c>ed to a chroot store and <c>nix copy --to 'file://DIR?compression=X'</c>ed
/// once per X; <c>nix-store --dump</c> of the tree gives the NAR every cache must decompress to.
/// Made once for this namespace's tests and removed after them.
/// </summary>
[SetUpFixture]
public sealed class NixBinaryCaches
{
    public static readonly string[] Compressions = ["xz", "zstd", "bzip2", "br", "gzip", "none"];

    private static string? root;
    private static byte[]? nar;
    private static readonly Dictionary<string, string> Caches = new();

    /// <summary>The uncompressed NAR of the tree, from nix-store --dump.</summary>
    public static byte[] Nar => nar ?? throw new InvalidOperationException("the caches are not made yet");

    /// <summary>The store path that was added.</summary>
    public static string StorePath { get; private set; } = "";

    /// <summary>The cache directory of one compression.</summary>
    public static string CacheOf(string compression) => Caches[compression];

    /// <summary>The single narinfo of a cache: its file name and its fields.</summary>
    public static (string FileName, Dictionary<string, string> Fields) NarInfoOf(string compression)
    {
        string path = Directory.GetFiles(CacheOf(compression), "*.narinfo").Single();
        var fields = new Dictionary<string, string>();
        foreach (string line in File.ReadAllLines(path))
        {
            int colon = line.IndexOf(": ", StringComparison.Ordinal);
            if (colon > 0) fields[line[..colon]] = line[(colon + 2)..];
        }
        return (Path.GetFileName(path), fields);
    }

    /// <summary>A directory below the fixture's root that the tests may use.</summary>
    public static string Scratch(string name)
    {
        string path = Path.Combine(root ?? throw new InvalidOperationException("not set up"), "scratch", name);
        Directory.CreateDirectory(path);
        return path;
    }

    [OneTimeSetUp]
    public void MakeCaches()
    {
        root = Path.Combine(Path.GetTempPath(), "tvixlowfs-http-tests-" + Guid.NewGuid().ToString("N"));
        string tree = Path.Combine(root, "tree");
        Directory.CreateDirectory(Path.Combine(tree, "sub", "deeper"));
        File.WriteAllText(Path.Combine(tree, "hello.txt"), "hello nix\n");
        var random = new Random(12);
        byte[] noise = new byte[150_000];
        random.NextBytes(noise);
        File.WriteAllText(Path.Combine(tree, "sub", "big.txt"), Convert.ToBase64String(noise, Base64FormattingOptions.InsertLineBreaks));
        File.WriteAllBytes(Path.Combine(tree, "sub", "deeper", "empty"), []);
        File.WriteAllText(Path.Combine(tree, "run.sh"), "#!/bin/sh\necho hi\n");
        File.SetUnixFileMode(Path.Combine(tree, "run.sh"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.CreateSymbolicLink(Path.Combine(tree, "link"), "hello.txt");

        var nix = new RealNix(root);
        string store = Path.Combine(root, "store");
        StorePath = nix.Check("nix-store", "--store", store, "--add", tree).Trim();
        foreach (string compression in Compressions)
        {
            string cache = Path.Combine(root, "cache-" + compression);
            nix.Check("nix", "copy", "--store", store, "--to", $"file://{cache}?compression={compression}", StorePath);
            Caches[compression] = cache;
        }
        nar = nix.Dump(tree);
    }

    [OneTimeTearDown]
    public void RemoveCaches()
    {
        if (root is not null && Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }
}
