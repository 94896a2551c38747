using System.Globalization;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>The command line of `dotnet run -c Release --project bench -- binary-cache [options]`.</summary>
internal sealed class BinaryCacheOptions
{
    public const string Usage = """
        usage: dotnet run -c Release --project bench -- binary-cache [options]
          --quick                small corpus (14 paths, ~53 MiB; a 64 MiB first-byte NAR), 1 repetition: a smoke run
          --repetitions N        repetitions (default 3; --quick: 1)
          --work-dir DIR         corpus caches and scratch stores (default /var/tmp/tvixlowfs-bench-binary-cache)
          --tvixlowfs PATH       the binary to measure (default <repo>/artifacts/tvixlowfs)
          --jobs N               passed to `tvixlowfs copy --jobs` (default: the binary's own default)
          --results-dir DIR      where the markdown goes (default <repo>/bench/results)
          --only NAME[,NAME]     only these comparisons: copy-xz, copy-zstd, ingest, first-byte-xz,
                                 first-byte-zstd, push-nar-bridge, pull-nar-bridge (or a prefix: copy, nar-bridge...)
        Needs root (drop_caches, mounts), Debian's nix-bin (Nix 2.8), python3, curl, xz and zstd.
        """;

    public int Repetitions { get; private set; } = 3;
    public string WorkDirectory { get; private set; } = "/var/tmp/tvixlowfs-bench-binary-cache";
    public bool Quick { get; private set; }
    public string? Binary { get; private set; }
    public int? Jobs { get; private set; }
    public string? ResultsDirectory { get; private set; }
    public bool ShowHelp { get; private set; }
    public IReadOnlyList<string> Only { get; private set; } = [];

    /// <summary>Whether the comparison runs: all without --only, else those whose kebab-case name starts with or ends with a given one.</summary>
    public bool Selects(BinaryCacheMetric metric)
    {
        var name = KebabName(metric);
        return Only.Count == 0 || Only.Any(o => name.StartsWith(o, StringComparison.Ordinal) || name.EndsWith(o, StringComparison.Ordinal));
    }

    public static string KebabName(BinaryCacheMetric metric) =>
        string.Concat(metric.ToString().Select((c, i) => char.IsUpper(c) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(c) : c.ToString()));

    public ClosureShape Shape => Quick ? ClosureShape.Quick : ClosureShape.Full;

    public static BinaryCacheOptions Parse(IReadOnlyList<string> arguments)
    {
        var options = new BinaryCacheOptions();
        int? repetitions = null;
        var queue = new Queue<string>(arguments);
        while (queue.TryDequeue(out var option))
        {
            string Next() => queue.TryDequeue(out var value) ? value : throw new ArgumentException($"{option} needs a value");
            int Positive()
            {
                var text = Next();
                return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
                    ? number
                    : throw new ArgumentException($"{option} wants a positive number, not '{text}'");
            }
            if (option == "--quick") options.Quick = true;
            else if (option == "--repetitions") repetitions = Positive();
            else if (option == "--jobs") options.Jobs = Positive();
            else if (option == "--work-dir") options.WorkDirectory = Path.GetFullPath(Next());
            else if (option == "--tvixlowfs") options.Binary = Path.GetFullPath(Next());
            else if (option == "--results-dir") options.ResultsDirectory = Path.GetFullPath(Next());
            else if (option == "--only")
            {
                options.Only = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var known = Enum.GetValues<BinaryCacheMetric>();
                foreach (var name in options.Only)
                {
                    if (!known.Any(m => KebabName(m).StartsWith(name, StringComparison.Ordinal) || KebabName(m).EndsWith(name, StringComparison.Ordinal)))
                        throw new ArgumentException($"--only: no comparison is called '{name}'");
                }
            }
            else if (option is "-h" or "--help") options.ShowHelp = true;
            else throw new ArgumentException($"unknown option '{option}'");
        }
        options.Repetitions = repetitions ?? (options.Quick ? 1 : options.Repetitions);
        return options;
    }
}
