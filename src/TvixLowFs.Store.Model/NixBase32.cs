namespace TvixLowFs.Store.Model;

/// <summary>Nix's base32 (alphabet 0123456789abcdfghijklmnpqrsvwxyz, no padding, reversed bit order).</summary>
public static class NixBase32
{
    /// <summary>ceil(8n/5) characters for n bytes.</summary>
    public static int EncodedLength(int byteCount) => (byteCount * 8 + 4) / 5;

    public static string Encode(ReadOnlySpan<byte> bytes) => throw new NotImplementedException();

    /// <summary>Encodes into ASCII bytes; <paramref name="destination"/> must hold <see cref="EncodedLength"/> bytes.</summary>
    public static void Encode(ReadOnlySpan<byte> bytes, Span<byte> destination) => throw new NotImplementedException();

    /// <summary>
    /// Decodes ASCII text into exactly <c>destination.Length</c> bytes without allocating; false on a
    /// character outside the alphabet, non-zero leftover bits, or a length that does not match.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> text, Span<byte> destination) => throw new NotImplementedException();

    /// <summary>Decodes text; throws <see cref="FormatException"/> naming the problem.</summary>
    public static byte[] Decode(string text) => throw new NotImplementedException();
}
