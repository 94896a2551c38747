using System.Globalization;

namespace TvixLowFs.NarBridge;

/// <summary>
/// The one byte range of a <c>Range: bytes=…</c> header (RFC 9110 14.1.2), as curl sends it when Nix
/// resumes a download: <c>bytes=S-</c>, <c>bytes=S-E</c> or <c>bytes=-N</c>. Several ranges, other
/// units or a malformed value are ignored (the whole NAR is sent, as the RFC allows).
/// </summary>
public readonly record struct ByteRange(long Start, long End)
{
    public long Length => End - Start;

    /// <summary>
    /// The range of a <paramref name="length"/>-byte representation that <paramref name="header"/>
    /// asks for: null to send it whole, <see cref="Unsatisfiable"/> when it starts at or past the end.
    /// </summary>
    public static ByteRange? Parse(string? header, long length)
    {
        if (string.IsNullOrEmpty(header) || !header.StartsWith("bytes=", StringComparison.Ordinal))
            return null;
        ReadOnlySpan<char> spec = header.AsSpan("bytes=".Length).Trim();
        if (spec.Contains(','))
            return null;
        int dash = spec.IndexOf('-');
        if (dash < 0)
            return null;
        ReadOnlySpan<char> first = spec[..dash].Trim(), last = spec[(dash + 1)..].Trim();
        if (first.IsEmpty)
        {
            if (!TryNumber(last, out long suffix) || suffix == 0)
                return null;
            return length == 0 ? Unsatisfiable : new ByteRange(Math.Max(0, length - suffix), length);
        }
        if (!TryNumber(first, out long start))
            return null;
        long end = length;
        if (!last.IsEmpty)
        {
            if (!TryNumber(last, out long lastByte) || lastByte < start)
                return null;
            end = Math.Min(length, lastByte + 1);
        }
        return start >= length ? Unsatisfiable : new ByteRange(start, end);
    }

    /// <summary>Marks a range that starts past the end (416).</summary>
    public static ByteRange Unsatisfiable { get; } = new(-1, -1);

    public bool IsUnsatisfiable => Start < 0;

    private static bool TryNumber(ReadOnlySpan<char> text, out long value) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
}
