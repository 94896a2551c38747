using System.IO.Compression;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// Decompression of a NAR by its narinfo's <c>Compression</c>, covering every method
/// <c>nix copy --to file://…?compression=X</c> of Nix 2.8 writes: xz (liblzma), zstd (ZstdSharp),
/// bzip2 (libbz2), br (.NET's <see cref="BrotliDecoder"/>), gzip (zlib) and none. Every decoder
/// tells a complete stream from a truncated one and from one with bytes after its end.
/// </summary>
public static class NarCompression
{
    /// <summary>
    /// Wraps <paramref name="compressed"/> as a decompressor for <paramref name="compression"/>:
    /// "none" or "" is the stream itself; "xz", "zstd", "bzip2", "br", "gzip" decode that format;
    /// any other name is detected by the data's magic bytes among xz, zstd, bzip2, gzip and an
    /// uncompressed NAR (as Nix 2.8, which hands every name but none and br to libarchive's
    /// detection), on the first read, which throws <see cref="StoreValidationException"/>
    /// ("unsupported compression 'lz4'") when nothing matches. Corrupt or truncated data, and
    /// bytes after the compressed stream's end, make a read throw <see cref="InvalidDataException"/>
    /// naming the reason. A read returns at most the bytes asked for. Disposing the result disposes
    /// <paramref name="compressed"/>.
    /// </summary>
    public static Stream Open(Stream compressed, string compression)
    {
        ArgumentNullException.ThrowIfNull(compressed);
        ArgumentNullException.ThrowIfNull(compression);
        return compression switch
        {
            "" or "none" => compressed,
            "xz" => new XzDecoderStream(compressed),
            "zstd" => new ZstdDecoderStream(compressed),
            "bzip2" => new Bzip2DecoderStream(compressed),
            "br" => new BrotliDecoderStream(compressed),
            "gzip" => new GzipDecoderStream(compressed),
            _ => new DetectingDecoderStream(compressed, compression),
        };
    }

    /// <summary>
    /// The file name extension Nix 2.8 gives a NAR with this compression: ".nar.xz", ".nar.zst",
    /// ".nar.bz2", ".nar.br", ".nar.lzip", ".nar.lz4", and ".nar" for none and for gzip (Nix 2.8
    /// has no extension for gzip). Any other name also gets ".nar", as Nix 2.8 does.
    /// </summary>
    public static string NarExtension(string compression) => compression switch
    {
        "xz" => ".nar.xz",
        "zstd" => ".nar.zst",
        "bzip2" => ".nar.bz2",
        "br" => ".nar.br",
        "lzip" => ".nar.lzip",
        "lz4" => ".nar.lz4",
        _ => ".nar",
    };

    /// <summary>The method whose magic bytes start <paramref name="prefix"/>, or null.</summary>
    internal static string? Detect(ReadOnlySpan<byte> prefix)
    {
        if (prefix.StartsWith(XzMagic)) return "xz";
        if (prefix.StartsWith(ZstdMagic)) return "zstd";
        if (prefix.StartsWith("BZh"u8)) return "bzip2";
        if (prefix.StartsWith(GzipMagic)) return "gzip";
        if (prefix.StartsWith(NarMagic)) return "none";
        return null;
    }

    private static ReadOnlySpan<byte> XzMagic => [0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00];
    private static ReadOnlySpan<byte> ZstdMagic => [0x28, 0xB5, 0x2F, 0xFD];
    private static ReadOnlySpan<byte> GzipMagic => [0x1F, 0x8B];
    // An uncompressed NAR: the length (13, u64 little-endian) of the string "nix-archive-1", then its start.
    private static ReadOnlySpan<byte> NarMagic => [13, 0, 0, 0, 0, 0, 0, 0, (byte)'n', (byte)'i', (byte)'x', (byte)'-'];

    /// <summary>How many bytes <see cref="Detect"/> needs to tell every method apart.</summary>
    internal const int MagicLength = 12;
}
