using System.Text;

namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>
/// A signing key in <c>nix-store --generate-binary-cache-key</c>'s format: <c>name:base64(64 bytes)</c>,
/// the libsodium Ed25519 secret key (seed then public key).
/// </summary>
public sealed class NixSecretKey
{
    private readonly byte[] _key;

    private NixSecretKey(string name, byte[] key)
    {
        Name = name;
        _key = key;
        PublicKey = new NixPublicKey(name, Ed25519.PublicKeyOf(key));
    }

    public string Name { get; }

    /// <summary>The matching public key (crypto_sign_ed25519_sk_to_pk), under the same name.</summary>
    public NixPublicKey PublicKey { get; }

    /// <summary>Throws <see cref="FormatException"/> naming the problem (never showing the key).</summary>
    public static NixSecretKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        (string name, byte[] key) = NixKeyText.Split(text, "secret key", Ed25519.SecretKeyLength);
        return new NixSecretKey(name, key);
    }

    /// <summary>Reads a key file; surrounding whitespace (a trailing newline an editor added) is ignored.</summary>
    public static NixSecretKey Load(string file) => Parse(File.ReadAllText(file).Trim());

    /// <summary>The <c>Sig</c> of <paramref name="fingerprint"/> (see <see cref="NarInfo.Fingerprint"/>).</summary>
    public NarSignature Sign(string fingerprint)
    {
        ArgumentNullException.ThrowIfNull(fingerprint);
        return new NarSignature(Name, Ed25519.Sign(Encoding.UTF8.GetBytes(fingerprint), _key));
    }

    /// <summary>The name only: the key itself never goes into a log.</summary>
    public override string ToString() => Name + ":(secret)";
}
