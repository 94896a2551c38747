namespace TvixLowFs.Tests.BinaryCache.Model;

/// <summary>
/// A chroot Nix store in a temporary directory, driven by Debian's real Nix 2.8 (nix-bin) through
/// <see cref="BinaryCache.RealNix"/> (no daemon, no network, our configuration only, a fresh
/// XDG_CACHE_HOME per call); builds sandboxed with the host's /bin, /lib, /lib64 and /usr so a
/// <c>/bin/sh</c> builder runs (without the sandbox a chroot store's builder finds no /bin/sh).
/// </summary>
public sealed class NixChrootStore
{
    private const int CommandTimeoutSeconds = 60;

    private readonly BinaryCache.RealNix _nix;

    public NixChrootStore(string directory)
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(directory);
        StoreRoot = Path.Combine(directory, "store");
        _nix = new BinaryCache.RealNix(directory);
    }

    public string Directory { get; }

    /// <summary>The chroot store: <c>--store DIR</c> keeps its paths under DIR/nix/store.</summary>
    public string StoreRoot { get; }

    /// <summary>
    /// The options every store command gets (no substituters and no build users come from
    /// <see cref="BinaryCache.RealNix.Config"/>; the sandbox here is on, unlike there).
    /// </summary>
    public string[] StoreOptions =>
    [
        "--store", StoreRoot,
        "--option", "sandbox", "true",
        "--option", "sandbox-paths", "/bin /lib /lib64 /usr",
    ];

    /// <summary>Runs a Nix program; returns stdout, throws with stderr when it exits non-zero.</summary>
    public string Run(string program, params string[] arguments) => _nix.Check(CommandTimeoutSeconds, program, arguments);

    /// <summary><c>nix</c> with nix-command enabled.</summary>
    public string RunNix(params string[] arguments) => Run("nix", ["--extra-experimental-features", "nix-command", .. arguments]);

    public (int ExitCode, string Stdout, string Stderr) TryRun(string program, params string[] arguments)
    {
        ChildProcess.Result result = _nix.Run(CommandTimeoutSeconds, program, arguments);
        return (result.ExitCode, result.Out, result.Error);
    }

    /// <summary><c>nix-store --add</c> (recursive, sha256): a <c>fixed:r:sha256</c> path.</summary>
    public string Add(string path) => Run("nix-store", [.. StoreOptions, "--add", path]).Trim();

    /// <summary><c>nix-store --add-fixed [--recursive] ALGO PATH</c>.</summary>
    public string AddFixed(string algorithm, string path, bool recursive) =>
        Run("nix-store", [.. StoreOptions, "--add-fixed", .. (recursive ? new[] { "--recursive" } : []), algorithm, path]).Trim();

    /// <summary>Evaluates a Nix expression that may write to the store (builtins.toFile); returns the printed value.</summary>
    public string Evaluate(string expression) =>
        Run("nix-instantiate", [.. StoreOptions, "--read-write-mode", "--eval", "-E", expression]).Trim();

    /// <summary><c>nix-build</c> of an expression file's attribute; returns the output path.</summary>
    public string Build(string file, string attribute) =>
        Run("nix-build", [.. StoreOptions, file, "-A", attribute, "--no-out-link"]).Trim();

    /// <summary><c>nix-store --generate-binary-cache-key NAME SECRET PUBLIC</c>; returns the two files.</summary>
    public (string SecretFile, string PublicFile) GenerateKey(string name)
    {
        string secret = Path.Combine(Directory, name + ".sk");
        string @public = Path.Combine(Directory, name + ".pk");
        Run("nix-store", ["--generate-binary-cache-key", name, secret, @public]);
        return (secret, @public);
    }

    /// <summary><c>nix copy --to file://DIR?compression=…&amp;secret-key=…</c> of store paths and their closures.</summary>
    public void CopyToFileCache(string cacheDirectory, string compression, string? secretKeyFile, params string[] storePaths)
    {
        string url = $"file://{cacheDirectory}?compression={compression}" + (secretKeyFile is null ? "" : $"&secret-key={secretKeyFile}");
        RunNix(["copy", .. StoreOptions, "--to", url, .. storePaths]);
    }
}
