using Google.Protobuf;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

using TvixLowFs.Store.Services;

namespace TvixLowFs.Store;

/// <summary>
/// The canonical protobuf bytes of a Directory (field order, defaults omitted, unknown fields
/// dropped): what the stores keep, so that BLAKE3 of the stored bytes is the Directory's digest.
/// </summary>
internal static class CanonicalDirectory
{
    private static readonly MessageParser<Directory> DiscardingParser = Directory.Parser.WithDiscardUnknownFields(true);

    public static byte[] Encode(Directory directory)
    {
        byte[] bytes = directory.ToByteArray();
        // Unknown fields are the only thing that can make the generated encoding non-canonical,
        // and they only ever add bytes: a re-parse that keeps the size proves there were none.
        Directory clean = DiscardingParser.ParseFrom(bytes);
        return clean.CalculateSize() == bytes.Length ? bytes : clean.ToByteArray();
    }

    /// <summary>Parses stored bytes, checking they hash to <paramref name="digest"/>.</summary>
    public static Directory DecodeVerified(ReadOnlySpan<byte> bytes, B3Digest digest, string where)
    {
        B3Digest actual = B3Digest.Compute(bytes);
        if (actual != digest)
            throw new StoreUnavailableException($"directory {digest} in {where} is corrupt: its bytes hash to {actual}");
        return Directory.Parser.ParseFrom(bytes);
    }
}
