namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// Debian's Nix 2.8 (<c>nix-bin</c>) run as the independent party: no daemon, no network, no
/// configuration but ours. Every call gets a fresh <c>XDG_CACHE_HOME</c> (Nix keeps fetched
/// narinfos, positive and negative, in <c>$XDG_CACHE_HOME/nix/binary-cache-v6.sqlite</c>, which
/// would otherwise leak between checks), <c>NIX_CONF_DIR</c> pointing at an empty directory (no
/// /etc/nix/nix.conf) and <c>NIX_CONFIG</c> with the settings a root user without a daemon needs;
/// see <see cref="NixBinaryCacheFixture"/> for why each is there.
/// </summary>
internal sealed class RealNix
{
    /// <summary>
    /// <c>substituters =</c>: there is no network (cache.nixos.org would be tried and time out);
    /// <c>build-users-group =</c>: root builds as itself (there is no nixbld group);
    /// <c>sandbox = false</c>: no sandbox of our own; a chroot store still runs the builder in a
    /// chroot of its own store, which is why the fixture passes <c>sandbox-paths</c>;
    /// <c>experimental-features = nix-command</c>: <c>nix copy</c>, <c>nix path-info</c>.
    /// </summary>
    public const string Config = "substituters =\nbuild-users-group =\nsandbox = false\nexperimental-features = nix-command\n";

    private readonly string _root;
    private int _calls;

    public RealNix(string root)
    {
        _root = root;
        Directory.CreateDirectory(Path.Combine(root, "etc-nix"));
    }

    /// <summary>A fresh environment: its own narinfo cache directory, our configuration only.</summary>
    public Dictionary<string, string> Environment()
    {
        string cache = Path.Combine(_root, "xdg-cache-" + Interlocked.Increment(ref _calls));
        Directory.CreateDirectory(cache);
        return new Dictionary<string, string>
        {
            ["XDG_CACHE_HOME"] = cache,
            ["NIX_CONF_DIR"] = Path.Combine(_root, "etc-nix"),
            ["NIX_USER_CONF_FILES"] = "",
            ["NIX_CONFIG"] = Config,
            ["HOME"] = _root,
        };
    }

    /// <summary>Runs nix-store, nix-build, nix or nix-hash; <c>--option substituters ''</c> is added where the tool takes options.</summary>
    public ChildProcess.Result Run(string tool, params string[] arguments) => Run(300, tool, arguments);

    /// <summary>The same, killed (a <see cref="TimeoutException"/>) after <paramref name="timeoutSeconds"/>.</summary>
    public ChildProcess.Result Run(int timeoutSeconds, string tool, params string[] arguments)
    {
        string[] all = tool == "nix-hash" ? arguments : [.. arguments, "--option", "substituters", ""];
        return ChildProcess.Run(tool, all, Environment(), timeoutSeconds);
    }

    /// <summary>Runs and returns stdout, throwing with everything Nix printed when it fails.</summary>
    public string Check(string tool, params string[] arguments)
    {
        ChildProcess.Result result = Run(tool, arguments);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)} failed: {result}");
        return result.Out;
    }
}
