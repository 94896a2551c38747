namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>
/// Hashes as Nix's Hash constructor reads them (hash.cc): base16 (either case), nixbase32 or base64,
/// told apart by length; with a type prefix <c>&lt;algo&gt;:</c>, or SRI <c>&lt;algo&gt;-&lt;base64&gt;</c>.
/// </summary>
internal static class NixHashText
{
    public const string Sha256 = "sha256";

    /// <summary>The digest size of a hash algorithm Nix knows, or -1.</summary>
    public static int SizeOf(string algorithm) => algorithm switch
    {
        "md5" => 16,
        "sha1" => 20,
        "sha256" => 32,
        "sha512" => 64,
        _ => -1,
    };

    /// <summary>
    /// Hash::parseAnyPrefixed restricted to SHA-256 (NarHash, FileHash): <c>sha256:</c> and base16,
    /// nixbase32 or base64, or SRI <c>sha256-&lt;base64&gt;</c>. Returns why not, or null.
    /// </summary>
    public static string? TryParsePrefixedSha256(string text, out byte[] hash)
    {
        hash = [];
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        int dash = text.IndexOf('-', StringComparison.Ordinal);
        bool sri = colon < 0;
        int separator = sri ? dash : colon;
        if (separator < 0)
            return "it does not say its hash type (expected sha256:...)";
        string algorithm = text[..separator];
        if (SizeOf(algorithm) < 0)
            return $"\"{NodeNames.Escape(algorithm)}\" is not a hash type Nix knows";
        if (algorithm != Sha256)
            return $"it is a {algorithm} hash, a sha256 one is required";
        return TryParseUnprefixed(text[(separator + 1)..], SizeOf(Sha256), sri, out hash);
    }

    /// <summary>The hash text after its type: base16, nixbase32 or base64 by length (base64 only for SRI).</summary>
    public static string? TryParseUnprefixed(string text, int size, bool sri, out byte[] hash)
    {
        hash = new byte[size];
        if (!sri && text.Length == size * 2)
            return Convert.FromHexString(text, hash, out _, out _) == System.Buffers.OperationStatus.Done
                ? null : "it is not valid base16";
        if (!sri && text.Length == NixBase32.EncodedLength(size))
            return NixBase32.TryDecode(text.AsSpan(), hash) ? null : "it is not valid nixbase32";
        if (sri || text.Length == (size + 2) / 3 * 4)
        {
            if (Base64.TryDecode(text, out byte[] decoded) && decoded.Length == size)
            {
                hash = decoded;
                return null;
            }
            return $"it is not the base64 of {size} bytes";
        }
        return $"{text.Length} characters is not the length of a {size}-byte hash in base16, nixbase32 or base64";
    }
}
