using System.Text;

namespace TvixLowFs.Store.Model;

/// <summary>
/// Names of castore nodes: raw bytes (not strings), compared bytewise, and printed escaped
/// so that a hostile name cannot forge log lines or terminal output.
/// </summary>
public static class NodeNames
{
    public const int MaxLength = 255;

    /// <summary>1..255 bytes, not "." or "..", no '/' and no NUL.</summary>
    public static bool IsValid(ReadOnlySpan<byte> name) =>
        name.Length is >= 1 and <= MaxLength
        && !name.SequenceEqual("."u8) && !name.SequenceEqual(".."u8)
        && name.IndexOfAny((byte)'/', (byte)0) < 0;

    /// <summary>Why <paramref name="name"/> is not a valid node name, or null when it is.</summary>
    public static string? Problem(ReadOnlySpan<byte> name)
    {
        if (name.Length == 0)
            return "the name is empty";
        if (name.Length > MaxLength)
            return $"the name is {name.Length} bytes long, at most {MaxLength} are allowed";
        if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
            return "the name is \".\" or \"..\"";
        if (name.IndexOf((byte)'/') >= 0)
            return "the name contains '/'";
        if (name.IndexOf((byte)0) >= 0)
            return "the name contains a NUL byte";
        return null;
    }

    /// <summary>Bytewise order: the order of a Directory's lists and of readdir.</summary>
    public static int Compare(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right) => left.SequenceCompareTo(right);

    /// <summary>The index of <paramref name="name"/> in <paramref name="names"/> (bytewise order), or -1.</summary>
    public static int BinarySearch<TNames>(TNames names, ReadOnlySpan<byte> name) where TNames : ISortedNames, allows ref struct
    {
        int low = 0, high = names.Count - 1;
        while (low <= high)
        {
            int middle = low + ((high - low) >> 1);
            int order = names.NameAt(middle).SequenceCompareTo(name);
            if (order == 0)
                return middle;
            if (order < 0)
                low = middle + 1;
            else
                high = middle - 1;
        }
        return -1;
    }

    /// <summary>
    /// The name in double quotes with printable ASCII as is and everything else as <c>\xNN</c>
    /// (quote and backslash escaped too), cut after 300 bytes.
    /// </summary>
    public static string Escape(ReadOnlySpan<byte> name)
    {
        const int shown = 300;
        var text = new StringBuilder(Math.Min(name.Length, shown) + 2);
        text.Append('"');
        foreach (byte b in name.Length > shown ? name[..shown] : name)
        {
            if (b == '"' || b == '\\')
                text.Append('\\').Append((char)b);
            else if (b is >= 0x20 and < 0x7F)
                text.Append((char)b);
            else
                text.Append("\\x").Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
        }
        text.Append('"');
        if (name.Length > shown)
            text.Append($"... ({name.Length} bytes)");
        return text.ToString();
    }

    /// <summary>
    /// Text with control and non-ASCII characters written as <c>\uNNNN</c> (no quotes added), for
    /// messages that quote user-supplied strings.
    /// </summary>
    public static string Escape(string text)
    {
        bool plain = true;
        foreach (char c in text)
        {
            if (c is < ' ' or >= (char)0x7F || c == '\\')
            {
                plain = false;
                break;
            }
        }
        if (plain)
            return text;
        var escaped = new StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            if (c == '\\')
                escaped.Append(@"\\");
            else if (c is < ' ' or >= (char)0x7F)
                escaped.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            else
                escaped.Append(c);
        }
        return escaped.ToString();
    }
}
