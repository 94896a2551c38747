using System.Numerics;

namespace TvixLowFs.Store.Model;

/// <summary>Nix's base32 (alphabet 0123456789abcdfghijklmnpqrsvwxyz, no padding, reversed bit order).</summary>
/// <remarks>
/// Character k of the text carries the 5 bits starting at bit (len-1-k)*5 of the bytes read as one
/// little-endian bit string, so the last character holds the lowest bits of the first byte.
/// </remarks>
public static class NixBase32
{
    public const string Alphabet = "0123456789abcdfghijklmnpqrsvwxyz";

    private static ReadOnlySpan<byte> AlphabetUtf8 => "0123456789abcdfghijklmnpqrsvwxyz"u8;

    // Digit value of each ASCII code, 0xFF for characters outside the alphabet (e, o, u, t, ...).
    private static ReadOnlySpan<byte> DigitOf =>
    [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        // '0'..'9'
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        // '`', 'a'=10, 'b'=11, 'c'=12, 'd'=13, 'e' no, 'f'=14, 'g'=15, 'h'=16, 'i'=17, 'j'=18, 'k'=19, 'l'=20, 'm'=21, 'n'=22, 'o' no
        0xFF, 10, 11, 12, 13, 0xFF, 14, 15, 16, 17, 18, 19, 20, 21, 22, 0xFF,
        // 'p'=23, 'q'=24, 'r'=25, 's'=26, 't' no, 'u' no, 'v'=27, 'w'=28, 'x'=29, 'y'=30, 'z'=31
        23, 24, 25, 26, 0xFF, 0xFF, 27, 28, 29, 30, 31, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ];

    /// <summary>ceil(8n/5) characters for n bytes.</summary>
    public static int EncodedLength(int byteCount) => (byteCount * 8 + 4) / 5;

    /// <summary>
    /// The number of bytes <paramref name="charCount"/> characters decode to, or -1 when no byte count
    /// encodes to exactly that many characters (e.g. 1 or 3 characters).
    /// </summary>
    public static int DecodedLength(int charCount)
    {
        if (charCount < 0)
            return -1;
        int bytes = (int)((long)charCount * 5 / 8);
        return EncodedLength(bytes) == charCount ? bytes : -1;
    }

    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        int length = EncodedLength(bytes.Length);
        if (length <= 256)
        {
            Span<byte> text = stackalloc byte[length];
            Encode(bytes, text);
            return System.Text.Encoding.ASCII.GetString(text);
        }
        var buffer = new byte[length];
        Encode(bytes, buffer);
        return System.Text.Encoding.ASCII.GetString(buffer);
    }

    /// <summary>Encodes into ASCII bytes; <paramref name="destination"/> must hold <see cref="EncodedLength"/> bytes.</summary>
    public static void Encode(ReadOnlySpan<byte> bytes, Span<byte> destination)
    {
        int length = EncodedLength(bytes.Length);
        if (destination.Length < length)
            throw new ArgumentException($"nixbase32 of {bytes.Length} bytes needs {length} characters, the destination holds {destination.Length}", nameof(destination));
        for (int k = 0; k < length; k++)
        {
            int bit = (length - 1 - k) * 5;
            int i = bit >> 3;
            int j = bit & 7;
            int value = bytes[i] >> j;
            if (j > 3 && i + 1 < bytes.Length)
                value |= bytes[i + 1] << (8 - j);
            destination[k] = AlphabetUtf8[value & 0x1F];
        }
    }

    /// <summary>
    /// Decodes ASCII text into exactly <c>destination.Length</c> bytes without allocating; false on a
    /// character outside the alphabet, non-zero leftover bits, or a length that does not match.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> text, Span<byte> destination) => TryDecodeCore(text, destination);

    /// <summary>The same as <see cref="TryDecode(ReadOnlySpan{byte}, Span{byte})"/> for UTF-16 text.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, Span<byte> destination) => TryDecodeCore(text, destination);

    /// <summary>Decodes text; throws <see cref="FormatException"/> naming the problem.</summary>
    public static byte[] Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int byteCount = DecodedLength(text.Length);
        if (byteCount < 0)
            throw new FormatException($"nixbase32 text of {text.Length} characters is not the encoding of any byte count");
        var bytes = new byte[byteCount];
        if (TryDecodeCore(text.AsSpan(), bytes))
            return bytes;
        foreach (char c in text)
        {
            if (c >= 128 || DigitOf[c] == 0xFF)
                throw new FormatException($"'{(char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString())}' is not a nixbase32 character (in \"{text}\")");
        }
        throw new FormatException($"nixbase32 text \"{text}\" has non-zero bits beyond its {byteCount} bytes");
    }

    private static bool TryDecodeCore<TChar>(ReadOnlySpan<TChar> text, Span<byte> destination)
        where TChar : unmanaged, IBinaryInteger<TChar>
    {
        if (text.Length != EncodedLength(destination.Length))
            return false;
        // The last character holds the lowest bits: walk backwards, emitting each byte once 8 bits are in.
        uint bits = 0;
        int bitCount = 0;
        int written = 0;
        ReadOnlySpan<byte> digits = DigitOf;
        for (int k = text.Length - 1; k >= 0; k--)
        {
            uint c = uint.CreateTruncating(text[k]);
            if (c >= (uint)digits.Length)
                return false;
            uint digit = digits[(int)c];
            if (digit == 0xFF)
                return false;
            bits |= digit << bitCount;
            bitCount += 5;
            if (bitCount >= 8)
            {
                destination[written++] = (byte)bits;
                bits >>= 8;
                bitCount -= 8;
            }
        }
        // Fewer than 5 bits are left over; Nix rejects text where any of them is set.
        return bits == 0;
    }
}
