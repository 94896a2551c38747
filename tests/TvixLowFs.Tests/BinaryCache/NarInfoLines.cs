namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// The <c>Name: value</c> lines of a narinfo that real Nix wrote, read the plain way so the tests
/// do not depend on the parser under test. Repeatable fields (<c>Sig</c>) keep every value.
/// </summary>
internal sealed class NarInfoLines
{
    private readonly List<KeyValuePair<string, string>> _fields = [];

    public NarInfoLines(string text)
    {
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || colon + 2 > line.Length)
                throw new FormatException("not a narinfo line: " + line);
            _fields.Add(new(line[..colon], line[(colon + 2)..]));
        }
    }

    public static NarInfoLines Read(string path) => new(File.ReadAllText(path));

    /// <summary>The value of the single field <paramref name="name"/>; throws when absent.</summary>
    public string this[string name] => _fields.Single(field => field.Key == name).Value;

    public IReadOnlyList<string> All(string name) => [.. _fields.Where(field => field.Key == name).Select(field => field.Value)];

    /// <summary>The 52 nixbase32 characters of <c>NarHash: sha256:…</c>.</summary>
    public string NarHashBase32 => this["NarHash"]["sha256:".Length..];

    public long NarSize => long.Parse(this["NarSize"], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The basenames on the References line (empty when it is empty).</summary>
    public IReadOnlyList<string> References => this["References"].Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
