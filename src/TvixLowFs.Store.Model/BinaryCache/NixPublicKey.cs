using System.Text;

namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>A trusted public key as Nix writes it (<c>trusted-public-keys</c>): <c>name:base64(32-byte Ed25519 key)</c>.</summary>
public sealed class NixPublicKey
{
    private readonly byte[] _key;

    internal NixPublicKey(string name, byte[] key)
    {
        Name = name;
        _key = key;
    }

    public string Name { get; }

    /// <summary>The 32-byte Ed25519 public key.</summary>
    public ReadOnlyMemory<byte> Key => _key;

    /// <summary>Throws <see cref="FormatException"/> naming the problem.</summary>
    public static NixPublicKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        (string name, byte[] key) = NixKeyText.Split(text, "public key", Ed25519.PublicKeyLength);
        return new NixPublicKey(name, key);
    }

    /// <summary>Keys separated by whitespace (a <c>trusted-public-keys</c> value); empty text gives none.</summary>
    public static IReadOnlyList<NixPublicKey> ParseList(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(Parse).ToArray();
    }

    /// <summary>True when the signature names this key and is a valid Ed25519 signature of <paramref name="fingerprint"/> by it.</summary>
    public bool Verifies(string fingerprint, NarSignature signature)
    {
        ArgumentNullException.ThrowIfNull(fingerprint);
        if (!string.Equals(signature.KeyName, Name, StringComparison.Ordinal) || signature.Bytes is null)
            return false;
        int length = Encoding.UTF8.GetByteCount(fingerprint);
        byte[]? heap = length <= 1024 ? null : new byte[length];
        Span<byte> message = heap ?? stackalloc byte[length];
        Encoding.UTF8.GetBytes(fingerprint, message);
        return Ed25519.Verify(signature.Bytes, message, _key);
    }

    public override string ToString() => Name + ":" + Convert.ToBase64String(_key);
}
