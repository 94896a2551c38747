using TvixLowFs.Bench.E2e;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// Deterministic text that looks like source code: statements over a fixed vocabulary of made-up
/// identifiers, numbers and comments. xz and zstd shrink it several times over, so their
/// decompressors do real work (random bytes would pass through as stored blocks).
/// </summary>
internal static class PseudoSourceText
{
    private const int LongestLine = 256;

    private static readonly byte[][] Vocabulary = BuildVocabulary();

    /// <summary>Fills destination with whole lines, the last one cut where the span ends.</summary>
    public static void Fill(Span<byte> destination, ref DeterministicRandom random)
    {
        Span<byte> line = stackalloc byte[LongestLine];
        var depth = 0;
        var position = 0;
        while (position < destination.Length)
        {
            var length = WriteLine(line, ref random, ref depth);
            var take = Math.Min(length, destination.Length - position);
            line[..take].CopyTo(destination[position..]);
            position += take;
        }
    }

    private static int WriteLine(Span<byte> line, ref DeterministicRandom random, ref int depth)
    {
        var kind = random.Next(8);
        if (kind == 2 && depth == 0) kind = 0;
        if (kind == 2) depth--;
        var length = 0;
        for (var i = 0; i < depth * 4; i++) line[length++] = (byte)' ';
        switch (kind)
        {
            case 0 or 6:
                Append(line, ref length, "let "u8); Word(line, ref length, ref random); Append(line, ref length, " = "u8);
                Word(line, ref length, ref random); Append(line, ref length, "("u8); Word(line, ref length, ref random);
                Append(line, ref length, ", "u8); Number(line, ref length, ref random); Append(line, ref length, ");"u8);
                break;
            case 1:
                if (depth >= 4) goto case 3;
                Append(line, ref length, "if ("u8); Word(line, ref length, ref random); Append(line, ref length, " > "u8);
                Number(line, ref length, ref random); Append(line, ref length, ") {"u8);
                depth++;
                break;
            case 2:
                Append(line, ref length, "}"u8);
                break;
            case 3:
                Append(line, ref length, "//"u8);
                for (var i = random.Between(3, 8); i > 0; i--) { Append(line, ref length, " "u8); Word(line, ref length, ref random); }
                break;
            case 4:
                Append(line, ref length, "return "u8); Word(line, ref length, ref random); Append(line, ref length, "."u8);
                Word(line, ref length, ref random); Append(line, ref length, "("u8); Number(line, ref length, ref random); Append(line, ref length, ");"u8);
                break;
            default:
                Word(line, ref length, ref random); Append(line, ref length, "["u8); Number(line, ref length, ref random);
                Append(line, ref length, "] = "u8); Word(line, ref length, ref random); Append(line, ref length, " + "u8);
                Word(line, ref length, ref random); Append(line, ref length, ";"u8);
                break;
        }
        line[length++] = (byte)'\n';
        return length;
    }

    private static void Append(Span<byte> line, ref int length, ReadOnlySpan<byte> text)
    {
        text.CopyTo(line[length..]);
        length += text.Length;
    }

    private static void Word(Span<byte> line, ref int length, ref DeterministicRandom random) =>
        Append(line, ref length, Vocabulary[random.Next(Vocabulary.Length)]);

    private static void Number(Span<byte> line, ref int length, ref DeterministicRandom random)
    {
        random.Next(100_000).TryFormat(line[length..], out var written, provider: System.Globalization.CultureInfo.InvariantCulture);
        length += written;
    }

    /// <summary>500 identifiers of two to four syllables (at most 14 bytes), the same on every run.</summary>
    private static byte[][] BuildVocabulary()
    {
        ReadOnlySpan<string> syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "si", "po", "ve", "da", "xi", "zu", "ba", "fe", "go", "hu", "_"];
        var random = new DeterministicRandom(0x766F_6361_6275_6C61); // "vocabula"
        var words = new byte[500][];
        for (var i = 0; i < words.Length; i++)
        {
            var word = new System.Text.StringBuilder();
            for (var s = random.Between(2, 4); s > 0; s--) word.Append(syllables[random.Next(syllables.Length)]);
            words[i] = System.Text.Encoding.ASCII.GetBytes(word.ToString());
        }
        return words;
    }
}
