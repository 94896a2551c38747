namespace TvixLowFs.Fuzz;

/// <summary>
/// One decoder fed untrusted bytes. <see cref="Run"/> returns when the decoder accepts the input
/// (and what it accepted keeps the promises the product relies on) or rejects it with its
/// documented rejection exception; anything else escapes and is a crash, for afl++ and for the
/// replay tests alike.
/// </summary>
public abstract class FuzzTarget
{
    /// <summary>The target's name on the command line and its folder under corpus/ and crashes/.</summary>
    public abstract string Name { get; }

    /// <summary>Decodes <paramref name="input"/>; true if accepted, false if rejected as documented.</summary>
    public abstract bool Run(byte[] input);

    /// <summary>Small valid and near-valid inputs the fuzzer starts from (corpus/&lt;name&gt;/).</summary>
    public abstract IEnumerable<(string Name, byte[] Bytes)> Seeds();

    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new DirectoryTarget(),
        new PathInfoTarget(),
        new BlobChunkTarget(),
        new NarReaderTarget(),
        new NarInfoTarget(),
    ];

    public static FuzzTarget Named(string name) =>
        All.SingleOrDefault(target => target.Name == name)
        ?? throw new ArgumentException($"no fuzz target '{name}' (targets: {string.Join(", ", All.Select(t => t.Name))})");
}
