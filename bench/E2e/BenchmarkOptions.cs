using System.Globalization;

namespace TvixLowFs.Bench.E2e;

/// <summary>The command line of `dotnet run -c Release --project bench/E2e -- [options]`.</summary>
internal sealed class BenchmarkOptions
{
    public const string Usage = """
        usage: dotnet run -c Release --project bench/E2e -- [options]
          --repetitions N        repetitions (default 5; --quick: 1)
          --work-dir DIR         corpus, image, store and mount points (default /var/tmp/tvixlowfs-bench)
          --quick                small corpus (64 MiB file, 2,000 files in 200 directories), 1 repetition: a smoke run
          --skip-remote          leave out the grpc+unix daemon rows and the links with latency
          --latency-rtt MS,...   round trips of the links with latency (default 2,20; 'none' leaves them out)
          --tvixlowfs PATH       the binary to measure (default <repo>/artifacts/tvixlowfs)
          --results-dir DIR      where the markdown goes (default <repo>/bench/results)
          --only import          run only the import comparison (issue 16 point 2: tvixlowfs import vs nix-store --add
                                 and mksquashfs, each onto a fresh ext4 loop file system; --repetitions rounds)
          --skip-import          leave the import comparison out of a full run
          --import-baseline PATH another tvixlowfs binary whose import is measured beside (before/after in one run)
          --remote-cache-option OPTION
                                 the `tvixlowfs mount` option naming the blob cache directory (default --cache-dir)
        Needs root (drop_caches, mounts), squashfs-tools and squashfuse (`./build.sh bench` installs them);
        the reference, libfuse's example passthrough_ll, is compiled with gcc against libfuse3-dev
        into WORK-DIR/passthrough_ll (its row says n/a with the reason when it cannot be).
        """;

    public int Repetitions { get; private set; } = 5;
    public string WorkDirectory { get; private set; } = "/var/tmp/tvixlowfs-bench";
    public bool Quick { get; private set; }
    public bool SkipRemote { get; private set; }
    /// <summary>Round trips (ms) of the delay-proxy links between a mount and a daemon on TCP.</summary>
    public IReadOnlyList<int> LatencyRoundTrips { get; private set; } = [2, 20];
    public string? Binary { get; private set; }
    public string? ResultsDirectory { get; private set; }
    public string RemoteCacheOption { get; private set; } = "--cache-dir";
    public bool ShowHelp { get; private set; }
    public bool OnlyImport { get; private set; }
    public bool SkipImport { get; private set; }
    public string? ImportBaseline { get; private set; }

    public CorpusShape Shape => Quick ? CorpusShape.Quick : CorpusShape.Full;

    public static BenchmarkOptions Parse(IReadOnlyList<string> arguments)
    {
        var options = new BenchmarkOptions();
        var repetitionsGiven = false;
        for (var i = 0; i < arguments.Count; i++)
        {
            string Value() => i + 1 < arguments.Count ? arguments[++i] : throw new ArgumentException($"{arguments[i]} needs a value");
            switch (arguments[i])
            {
                case "--repetitions":
                    var text = Value();
                    if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var repetitions) || repetitions < 1)
                        throw new ArgumentException($"--repetitions wants a positive number, not '{text}'");
                    options.Repetitions = repetitions;
                    repetitionsGiven = true;
                    break;
                case "--work-dir": options.WorkDirectory = Path.GetFullPath(Value()); break;
                case "--quick": options.Quick = true; break;
                case "--skip-remote": options.SkipRemote = true; break;
                case "--latency-rtt":
                    var rtts = Value();
                    options.LatencyRoundTrips = rtts == "none" ? [] : [.. rtts.Split(',').Select(part =>
                        int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms is > 0 and <= 1000
                            ? ms : throw new ArgumentException($"--latency-rtt wants milliseconds from 1 to 1000, comma-separated, or none; not '{rtts}'"))];
                    break;
                case "--tvixlowfs": options.Binary = Path.GetFullPath(Value()); break;
                case "--results-dir": options.ResultsDirectory = Path.GetFullPath(Value()); break;
                case "--remote-cache-option": options.RemoteCacheOption = Value(); break;
                case "--only":
                    var only = Value();
                    options.OnlyImport = only == "import" ? true : throw new ArgumentException($"--only knows 'import', not '{only}'");
                    break;
                case "--skip-import": options.SkipImport = true; break;
                case "--import-baseline": options.ImportBaseline = Path.GetFullPath(Value()); break;
                case "-h" or "--help": options.ShowHelp = true; break;
                default: throw new ArgumentException($"unknown option '{arguments[i]}'");
            }
        }
        if (options.Quick && !repetitionsGiven) options.Repetitions = 1;
        if (options.OnlyImport && options.SkipImport) throw new ArgumentException("--only import and --skip-import contradict each other");
        return options;
    }

    /// <summary>The repository root: the nearest directory holding TvixLowFs.sln above the working directory or the assembly.</summary>
    public static string? RepositoryRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "TvixLowFs.sln"))) return directory.FullName;
            }
        }
        return null;
    }
}
