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
    public static byte[] Encode(Directory directory) => DirectoryEncoding.Canonical(directory);

    /// <summary>Parses stored bytes, checking they hash to <paramref name="digest"/>.</summary>
    public static Directory DecodeVerified(ReadOnlySpan<byte> bytes, B3Digest digest, string where)
    {
        B3Digest actual = B3Digest.Compute(bytes);
        if (actual != digest)
            throw new StoreUnavailableException($"directory {digest} in {where} is corrupt: its bytes hash to {actual}");
        return Directory.Parser.ParseFrom(bytes);
    }
}
