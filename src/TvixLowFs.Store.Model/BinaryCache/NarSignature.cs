namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>A narinfo <c>Sig</c>: the key's name and a 64-byte Ed25519 signature of the fingerprint.</summary>
public readonly record struct NarSignature(string KeyName, byte[] Bytes)
{
    public const int Length = Ed25519.SignatureLength;

    /// <summary><c>name:base64(64 bytes)</c>, split at the first colon as Nix does (crypto.cc split);
    /// throws <see cref="StoreValidationException"/> when malformed.</summary>
    public static NarSignature Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
            throw new StoreValidationException($"signature \"{NodeNames.Escape(text)}\" is not name:base64");
        if (colon == 0)
            throw new StoreValidationException($"signature \"{NodeNames.Escape(text)}\" has an empty key name");
        if (!Base64.TryDecode(text[(colon + 1)..], out byte[] bytes))
            throw new StoreValidationException($"signature \"{NodeNames.Escape(text)}\" is not valid base64");
        if (bytes.Length != Length)
            throw new StoreValidationException($"signature \"{NodeNames.Escape(text)}\" is {bytes.Length} bytes, an Ed25519 signature is {Length}");
        return new NarSignature(text[..colon], bytes);
    }

    public override string ToString() => KeyName + ":" + Convert.ToBase64String(Bytes ?? []);

    public bool Equals(NarSignature other) =>
        string.Equals(KeyName, other.KeyName, StringComparison.Ordinal) && (Bytes ?? []).AsSpan().SequenceEqual(other.Bytes ?? []);

    public override int GetHashCode() => HashCode.Combine(KeyName, Bytes is { Length: > 0 } b ? b[0] : 0);
}
