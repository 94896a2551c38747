// How Debian's Nix 2.8 (nix-bin) works on this machine: root, no nix-daemon, no /nix, no network.
// Every fact below was tried here; RealNix applies the environment part to every call.
//
// - Chroot store: `--store DIR` (same as `--store 'local?root=DIR'`) keeps the store at
//   DIR/nix/store and its database at DIR/nix/var/nix/db, while paths still read /nix/store/…
//   No daemon is needed; root opens the database directly.
// - Settings, via NIX_CONFIG (and `--option substituters ''` on each command line as well):
//   `substituters =` (no network: cache.nixos.org would be tried), `build-users-group =` (root
//   builds as itself; there is no nixbld group), `sandbox = false`, `experimental-features =
//   nix-command` (for `nix copy`, `nix path-info`). NIX_CONF_DIR points at an empty directory and
//   NIX_USER_CONF_FILES is empty so no nix.conf on the machine interferes; XDG_CACHE_HOME is fresh
//   per call (Nix caches narinfos, positive and negative, in binary-cache-v6.sqlite there).
// - `nix-store --store DIR --add PATH` prints /nix/store/<hash>-<name>: a content-addressed path
//   (narinfo `CA: fixed:r:sha256:<NarHash>`, no references), for a tree or a single file alike.
//   Modes come out 0444/0555 (directories 0555), mtime 1 s.
// - `nix-build --store DIR FILE.nix --argstr dep /nix/store/… --no-out-link --option sandbox-paths
//   '/bin /lib /lib64 /usr'` of `builtins.derivation { name; system = builtins.currentSystem;
//   builder = "/bin/sh"; PATH = "/usr/bin:/bin"; args = [ "-c" "…" ]; }` builds and prints the
//   output path (last stdout line). Three traps: a path literal (`/nix/store/…` or `"${/nix/…}"`)
//   is read from the real /nix and fails, so the dependency is passed as a string and made a store
//   path with `builtins.storePath dep` (that is what makes it a reference); a chroot store always
//   runs the builder in a chroot of its own store, even with sandbox = false, so /bin/sh and the
//   libraries it needs must be bind-mounted in with sandbox-paths; and the builder starts with
//   PATH unset, hence the PATH attribute. The output is input-addressed, has the dependency in
//   References and `Deriver: <hash>-<name>.drv`.
// - `nix-store --generate-binary-cache-key NAME SECRETFILE PUBLICFILE` writes `NAME:base64(64)`
//   and `NAME:base64(32)`.
// - `nix copy --store DIR --to 'file:///CACHE?compression=X&secret-key=SECRETFILE' PATH…` writes a
//   signed cache (closure included) for X in none, xz, zstd, bzip2, br, gzip; the NAR files are
//   nar/<filehash>.nar, .nar.xz, .nar.zst, .nar.bz2, .nar.br and — gzip — .nar again. It also
//   writes nix-cache-info (`StoreDir: /nix/store`), an empty log/ and realisations/.
// - Substituting: `nix copy --from http://127.0.0.1:PORT --to OTHERDIR --option
//   trusted-public-keys 'NAME:BASE64' PATH` fetches nix-cache-info, HEAD/GET of the narinfos and
//   one GET per NAR; with a key that did not sign, the input-addressed path fails with "lacks a
//   valid signature" and exit 1 while content-addressed paths are accepted (Nix's rule: a CA path
//   that proves its store path needs no signature).
// - `nix-hash --type sha256 --base32 PATH` prints the NarHash (base32 part) of any tree, a FUSE
//   mount included.
namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// Real binary caches made by real Nix, everything under one temp directory: a chroot Nix store
/// holding a source tree and a single file added with <c>nix-store --add</c> (content-addressed)
/// and a derivation output built with <c>nix-build</c> that refers to the tree (input-addressed,
/// Deriver set, closure of two paths); a signing key pair and a second, untrusted one; and one
/// signed <c>file://</c> cache per compression, each holding all three paths. Built once per test
/// class (a few seconds); <see cref="Dispose"/> removes it all.
/// </summary>
internal sealed class NixBinaryCacheFixture : IDisposable
{
    public static readonly string[] Compressions = ["none", "xz", "zstd", "bzip2", "br", "gzip"];

    /// <summary>The big file of the tree: a few MiB of random bytes, several NAR-reader buffers long.</summary>
    public const int BigFileLength = 3 * 1024 * 1024 + 12345;

    public const string KeyName = "tvixlowfs-test-cache-1";
    public const string UntrustedKeyName = "tvixlowfs-untrusted-1";

    private readonly Dictionary<string, string> _caches = [];
    private int _copies;

    public string Root { get; }

    public RealNix RealNix { get; }

    /// <summary>The chroot store's root: store paths live under <c>ChrootStore/nix/store</c>.</summary>
    public string ChrootStore { get; }

    /// <summary>The tree as it was before <c>nix-store --add</c> (modes not yet canonicalised).</summary>
    public string SourceTree { get; }

    public string TreeBasename { get; }

    public string SingleFileBasename { get; }

    /// <summary>Contents of the single file.</summary>
    public static ReadOnlySpan<byte> SingleFileContent => "one file, added on its own\n"u8;

    /// <summary>The nix-build output; refers to <see cref="TreeBasename"/>.</summary>
    public string OutputBasename { get; }

    /// <summary>The .drv basename that built <see cref="OutputBasename"/>.</summary>
    public string DeriverBasename { get; }

    /// <summary><c>NAME:base64</c> of the key that signed every cache.</summary>
    public string PublicKey { get; }

    public string SecretKeyFile { get; }

    /// <summary><c>NAME:base64</c> of a key that signed nothing.</summary>
    public string UntrustedPublicKey { get; }

    public string UntrustedSecretKeyFile { get; }

    /// <summary>Compression → the cache directory (a <c>file://</c> binary cache).</summary>
    public IReadOnlyDictionary<string, string> Caches => _caches;

    /// <summary>Every store path basename in each cache.</summary>
    public IReadOnlyList<string> AllBasenames => [TreeBasename, SingleFileBasename, OutputBasename];

    public NixBinaryCacheFixture()
    {
        Root = Path.Combine(Path.GetTempPath(), "tvixlowfs-nixcache-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        try
        {
            RealNix = new RealNix(Root);
            ChrootStore = Path.Combine(Root, "nix-root");
            SourceTree = Path.Combine(Root, "src", "tree");
            BuildSourceTree(SourceTree);
            TreeBasename = AddToStore(SourceTree);

            string single = Path.Combine(Root, "src", "single.txt");
            File.WriteAllBytes(single, SingleFileContent.ToArray());
            SingleFileBasename = AddToStore(single);

            (OutputBasename, DeriverBasename) = Build(TreeBasename);

            SecretKeyFile = Path.Combine(Root, "keys", "secret");
            PublicKey = GenerateKey(KeyName, SecretKeyFile);
            UntrustedSecretKeyFile = Path.Combine(Root, "keys", "untrusted-secret");
            UntrustedPublicKey = GenerateKey(UntrustedKeyName, UntrustedSecretKeyFile);

            foreach (string compression in Compressions)
            {
                string cache = Path.Combine(Root, "cache-" + compression);
                RealNix.Check("nix", "copy", "--store", ChrootStore,
                    "--to", $"file://{cache}?compression={compression}&secret-key={SecretKeyFile}",
                    "/nix/store/" + OutputBasename, "/nix/store/" + SingleFileBasename);
                _caches[compression] = cache;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Where Nix keeps <paramref name="basename"/> on disk (the source of truth for byte comparisons).</summary>
    public string OnDisk(string basename) => Path.Combine(ChrootStore, "nix", "store", basename);

    /// <summary>The 32 nixbase32 characters of a basename.</summary>
    public static string HashOf(string basename) => basename[..32];

    public static string NarInfoFile(string cache, string basename) => Path.Combine(cache, HashOf(basename) + ".narinfo");

    public NarInfoLines NarInfo(string compression, string basename) => NarInfoLines.Read(NarInfoFile(Caches[compression], basename));

    /// <summary>The (compressed) NAR file the narinfo of <paramref name="basename"/> in <paramref name="cache"/> names.</summary>
    public static string NarFile(string cache, string basename) =>
        Path.Combine(cache, NarInfoLines.Read(NarInfoFile(cache, basename))["URL"]);

    /// <summary>
    /// A fresh copy of the cache of <paramref name="compression"/> to tamper with (the hostile
    /// fixtures start from what real Nix wrote and change one thing).
    /// </summary>
    public string CopyCache(string compression, string name)
    {
        string destination = Path.Combine(Root, $"copy-{Interlocked.Increment(ref _copies)}-{compression}-{name}");
        CopyDirectory(Caches[compression], destination);
        return destination;
    }

    /// <summary>
    /// <c>nix+http://127.0.0.1:PORT?trusted-public-keys=K1%20K2…</c>, each key with the characters
    /// a query value cannot carry literally percent-encoded (<c>+</c> would read as a space).
    /// </summary>
    public static string NixHttpAddress(StaticHttpServer server, params string[] trustedKeys)
    {
        string address = "nix+" + server.BaseUrl;
        if (trustedKeys.Length == 0)
            return address;
        return address + "?trusted-public-keys=" + string.Join("%20", trustedKeys.Select(EscapeQueryValue));
    }

    public static string EscapeQueryValue(string value) =>
        value.Replace("%", "%25", StringComparison.Ordinal).Replace("+", "%2B", StringComparison.Ordinal)
            .Replace("&", "%26", StringComparison.Ordinal).Replace(" ", "%20", StringComparison.Ordinal)
            .Replace("#", "%23", StringComparison.Ordinal);

    /// <summary>Real Nix substitutes <paramref name="paths"/> from <paramref name="server"/> into a fresh chroot store.</summary>
    public ChildProcess.Result SubstituteWithNix(StaticHttpServer server, string trustedKey, out string chrootStore, string[] basenames,
        int timeoutSeconds = 120)
    {
        chrootStore = Path.Combine(Root, "substituted-" + Interlocked.Increment(ref _copies));
        return RealNix.Run(timeoutSeconds, "nix", ["copy", "--from", server.BaseUrl, "--to", chrootStore,
            "--option", "trusted-public-keys", trustedKey, .. basenames.Select(b => "/nix/store/" + b)]);
    }

    private string AddToStore(string path)
    {
        string printed = RealNix.Check("nix-store", "--store", ChrootStore, "--add", path).Trim();
        return printed["/nix/store/".Length..];
    }

    private (string Output, string Deriver) Build(string dependency)
    {
        string expression = Path.Combine(Root, "src", "with-reference.nix");
        File.WriteAllText(expression, """
            { dep }:
            let tree = builtins.storePath dep; in
            builtins.derivation {
              name = "tvixlowfs-with-reference";
              system = builtins.currentSystem;
              builder = "/bin/sh";
              PATH = "/usr/bin:/bin";
              args = [ "-c" ''
                mkdir -p $out/bin
                echo ${tree} > $out/dep
                ln -s ${tree}/README $out/readme-link
                printf '#!/bin/sh\nexec ${tree}/bin/tool "$@"\n' > $out/bin/run
                chmod 0755 $out/bin/run
              '' ];
            }
            """);
        string printed = RealNix.Check("nix-build", "--store", ChrootStore, expression, "--argstr", "dep", "/nix/store/" + dependency,
            "--no-out-link", "--option", "sandbox-paths", "/bin /lib /lib64 /usr");
        string output = printed.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Trim()["/nix/store/".Length..];
        string deriver = RealNix.Check("nix-store", "--store", ChrootStore, "--query", "--deriver", "/nix/store/" + output).Trim();
        return (output, deriver["/nix/store/".Length..]);
    }

    private string GenerateKey(string name, string secretFile)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(secretFile)!);
        string publicFile = secretFile + ".pub";
        RealNix.Check("nix-store", "--generate-binary-cache-key", name, secretFile, publicFile);
        return File.ReadAllText(publicFile).Trim();
    }

    private static void BuildSourceTree(string source)
    {
        Directory.CreateDirectory(Path.Combine(source, "bin"));
        Directory.CreateDirectory(Path.Combine(source, "share", "doc", "deep"));
        Directory.CreateDirectory(Path.Combine(source, "empty-dir"));
        File.WriteAllText(Path.Combine(source, "README"), "a tree for the binary-cache tests\n");
        File.WriteAllText(Path.Combine(source, "bin", "tool"), "#!/bin/sh\necho tool\n");
        File.SetUnixFileMode(Path.Combine(source, "bin", "tool"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.CreateSymbolicLink(Path.Combine(source, "bin", "tool-link"), "tool");
        File.CreateSymbolicLink(Path.Combine(source, "absolute-link"), "/nix/store/00000000000000000000000000000000-elsewhere");
        File.CreateSymbolicLink(Path.Combine(source, "share", "dangling"), "../missing");
        File.WriteAllBytes(Path.Combine(source, "share", "empty-file"), []);
        File.WriteAllText(Path.Combine(source, "share", "doc", "deep", "note.txt"), "deep note\n");
        File.WriteAllText(Path.Combine(source, "share", "doc", "same-as-readme"), "a tree for the binary-cache tests\n");
        var big = new byte[BigFileLength];
        new Random(12).NextBytes(big);
        // Half random, half text: xz and friends have something to compress, and something not.
        for (int i = big.Length / 2; i < big.Length; i++)
            big[i] = (byte)('a' + i % 23);
        File.WriteAllBytes(Path.Combine(source, "share", "big.bin"), big);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string entry in Directory.EnumerateFileSystemEntries(from))
        {
            string target = Path.Combine(to, Path.GetFileName(entry));
            if (Directory.Exists(entry))
                CopyDirectory(entry, target);
            else
                File.Copy(entry, target);
        }
    }

    /// <summary>SHA-256 of a file as Nix prints it (nixbase32, by <c>nix-hash --flat</c>), e.g. to name a tampered NAR.</summary>
    public string FileHashBase32(string file) => RealNix.Check("nix-hash", "--type", "sha256", "--flat", "--base32", file).Trim();

    public void Dispose()
    {
        if (!Directory.Exists(Root))
            return;
        // Nix leaves its stores read-only (0555 directories): make them writable so they can go.
        // Only the stores: a test class's mount points are not under Root's chroot stores.
        foreach (string store in Directory.EnumerateDirectories(Root).Where(d => Path.GetFileName(d) is var n && (n == "nix-root" || n.StartsWith("substituted-", StringComparison.Ordinal))))
            ChildProcess.Run("chmod", ["-R", "u+w", store]);
        Directory.Delete(Root, recursive: true);
    }
}
