using TvixLowFs.Store.Model;

namespace TvixLowFs.NarBridge;

/// <summary>
/// A request path, parsed once from the raw request target (before any decoding or dot-segment
/// removal), so what is served is exactly what the bytes on the wire name. Binary cache paths are
/// plain nixbase32 names: any percent escape, any <c>.</c>/<c>..</c> or empty segment is refused
/// as malformed rather than interpreted.
/// </summary>
public readonly record struct BridgeRoute(BridgeRouteKind Kind, StorePathHash StorePathHash, byte[]? Sha256, string? Compression)
{
    private const int HashChars = 32;
    private static readonly int Sha256Chars = NixBase32.EncodedLength(32);

    /// <summary>Parses <paramref name="rawTarget"/>; a malformed one throws <see cref="RequestRefusedException"/> (400).</summary>
    public static BridgeRoute Parse(string rawTarget)
    {
        ArgumentNullException.ThrowIfNull(rawTarget);
        int query = rawTarget.IndexOf('?', StringComparison.Ordinal);
        ReadOnlySpan<char> path = query < 0 ? rawTarget : rawTarget.AsSpan(0, query);
        if (path.Length == 0 || path[0] != '/')
            throw Malformed("the request target is not an absolute path");
        if (path.Contains('%'))
            throw Malformed("percent-encoded characters are not part of any binary cache path");
        if (path.Contains('\\'))
            throw Malformed("a backslash is not part of any binary cache path");
        foreach (Range segment in path[1..].Split('/'))
        {
            ReadOnlySpan<char> name = path[1..][segment];
            if (name.Length == 0 || name is "." or "..")
                throw Malformed("empty, '.' and '..' path segments are refused");
        }

        ReadOnlySpan<char> rest = path[1..];
        if (rest is "nix-cache-info")
            return new BridgeRoute(BridgeRouteKind.CacheInfo, default, null, null);
        if (rest.EndsWith(".narinfo", StringComparison.Ordinal) && !rest.Contains('/'))
            return new BridgeRoute(BridgeRouteKind.NarInfo, ParseStorePathHash(rest[..^".narinfo".Length]), null, null);
        if (rest.EndsWith(".ls", StringComparison.Ordinal) && !rest.Contains('/'))
            return new BridgeRoute(BridgeRouteKind.NarListing, ParseStorePathHash(rest[..^".ls".Length]), null, null);
        if (rest.StartsWith("nar/", StringComparison.Ordinal) && rest.Count('/') == 1)
            return ParseNar(rest["nar/".Length..]);
        return new BridgeRoute(BridgeRouteKind.Unknown, default, null, null);
    }

    /// <summary>The URL (relative to the cache) of the NAR this server renders for a store path with that NarHash.</summary>
    public static string RenderedNarUrl(StorePathHash storePathHash, ReadOnlySpan<byte> narSha256) =>
        "nar/" + HashText(storePathHash) + "-" + NixBase32.Encode(narSha256) + ".nar";

    /// <summary>The 32 nixbase32 characters of a store path hash, as in its basename.</summary>
    public static string HashText(StorePathHash hash)
    {
        Span<byte> bytes = stackalloc byte[StorePathHash.Length];
        hash.CopyTo(bytes);
        return NixBase32.Encode(bytes);
    }

    private static BridgeRoute ParseNar(ReadOnlySpan<char> file)
    {
        int dot = file.IndexOf('.');
        if (dot < 0)
            return new BridgeRoute(BridgeRouteKind.Unknown, default, null, null);
        ReadOnlySpan<char> stem = file[..dot], extension = file[dot..];
        if (stem.Length == HashChars + 1 + Sha256Chars && stem[HashChars] == '-' && extension is ".nar")
            return new BridgeRoute(BridgeRouteKind.RenderedNar, ParseStorePathHash(stem[..HashChars]), ParseSha256(stem[(HashChars + 1)..]), "none");
        string? compression = extension switch
        {
            // Nix 2.8 names both an uncompressed and a gzip NAR ".nar": the content tells them apart.
            ".nar" => "",
            ".nar.xz" => "xz",
            ".nar.zst" => "zstd",
            ".nar.bz2" => "bzip2",
            ".nar.br" => "br",
            _ => null,
        };
        if (compression is null)
            return new BridgeRoute(BridgeRouteKind.Unknown, default, null, null);
        return new BridgeRoute(BridgeRouteKind.UploadedNar, default, ParseSha256(stem), compression);
    }

    private static StorePathHash ParseStorePathHash(ReadOnlySpan<char> text)
    {
        Span<byte> bytes = stackalloc byte[StorePathHash.Length];
        if (text.Length != HashChars || !NixBase32.TryDecode(text, bytes))
            throw Malformed($"\"{Show(text)}\" is not a store path hash (32 nixbase32 characters)");
        return StorePathHash.FromBytes(bytes);
    }

    private static byte[] ParseSha256(ReadOnlySpan<char> text)
    {
        var bytes = new byte[32];
        if (text.Length != Sha256Chars || !NixBase32.TryDecode(text, bytes))
            throw Malformed($"\"{Show(text)}\" is not a SHA-256 hash ({Sha256Chars} nixbase32 characters)");
        return bytes;
    }

    private static string Show(ReadOnlySpan<char> text) => NodeNames.Escape(text.Length <= 80 ? text.ToString() : text[..80].ToString() + "...");

    private static RequestRefusedException Malformed(string reason) => new(400, reason);
}
