using System.Diagnostics;

namespace TvixLowFs.Tests.BinaryCache.Model;

/// <summary>
/// Debian's real Nix 2.8 (nix-bin) run as the independent party, against a chroot store in a temporary
/// directory: no daemon, no network (<c>--option substituters ''</c>), its own XDG_CACHE_HOME (Nix's
/// narinfo cache), builds sandboxed with the host's /bin, /lib, /lib64 and /usr so a <c>/bin/sh</c>
/// builder runs (without the sandbox a chroot store's builder finds no /bin/sh).
/// </summary>
public sealed class RealNix
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    public RealNix(string directory)
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(directory);
        StoreRoot = Path.Combine(directory, "store");
        CacheHome = Path.Combine(directory, "xdg-cache");
    }

    public string Directory { get; }

    /// <summary>The chroot store: <c>--store DIR</c> keeps its paths under DIR/nix/store.</summary>
    public string StoreRoot { get; }

    public string CacheHome { get; }

    /// <summary>The options every store command gets.</summary>
    public string[] StoreOptions =>
    [
        "--store", StoreRoot,
        "--option", "substituters", "",
        "--option", "build-users-group", "",
        "--option", "sandbox", "true",
        "--option", "sandbox-paths", "/bin /lib /lib64 /usr",
    ];

    /// <summary>Runs a Nix program; returns stdout, throws with stderr when it exits non-zero.</summary>
    public string Run(string program, params string[] arguments)
    {
        var (exitCode, stdout, stderr) = TryRun(program, arguments);
        if (exitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited {exitCode}: {stderr}");
        return stdout;
    }

    /// <summary><c>nix</c> with nix-command enabled.</summary>
    public string RunNix(params string[] arguments) => Run("nix", ["--extra-experimental-features", "nix-command", .. arguments]);

    public (int ExitCode, string Stdout, string Stderr) TryRun(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Directory,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["XDG_CACHE_HOME"] = CacheHome;
        start.Environment["HOME"] = Directory;
        start.Environment["NIX_CONF_DIR"] = Directory; // no host nix.conf
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(CommandTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish in {CommandTimeout}");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
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
