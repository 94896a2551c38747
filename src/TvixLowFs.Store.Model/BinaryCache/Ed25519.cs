using System.Runtime.InteropServices;

namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>Ed25519 detached signatures through libsodium, as Nix's crypto.cc makes and checks them.</summary>
internal static unsafe class Ed25519
{
    public const int SignatureLength = 64;
    public const int PublicKeyLength = 32;
    public const int SecretKeyLength = 64;

    // libsodium wants sodium_init before use (it picks implementations); it is idempotent and thread-safe.
    static Ed25519()
    {
        if (Interop.Sodium.Init() < 0)
            throw new InvalidOperationException("libsodium failed to initialise (sodium_init returned -1)");
    }

    /// <summary>The libsodium version in use, e.g. 1.0.18.</summary>
    public static string Version => Marshal.PtrToStringUTF8((nint)Interop.Sodium.VersionString())!;

    public static bool Verify(ReadOnlySpan<byte> signature, ReadOnlySpan<byte> message, ReadOnlySpan<byte> publicKey)
    {
        if (signature.Length != SignatureLength || publicKey.Length != PublicKeyLength)
            return false;
        fixed (byte* s = signature)
        fixed (byte* m = message)
        fixed (byte* k = publicKey)
            return Interop.Sodium.VerifyDetached(s, m, (ulong)message.Length, k) == 0;
    }

    public static byte[] Sign(ReadOnlySpan<byte> message, ReadOnlySpan<byte> secretKey)
    {
        if (secretKey.Length != SecretKeyLength)
            throw new ArgumentException($"an Ed25519 secret key is {SecretKeyLength} bytes, got {secretKey.Length}", nameof(secretKey));
        var signature = new byte[SignatureLength];
        ulong length;
        fixed (byte* s = signature)
        fixed (byte* m = message)
        fixed (byte* k = secretKey)
        {
            if (Interop.Sodium.SignDetached(s, &length, m, (ulong)message.Length, k) != 0 || length != SignatureLength)
                throw new InvalidOperationException("crypto_sign_detached failed");
        }
        return signature;
    }

    public static byte[] PublicKeyOf(ReadOnlySpan<byte> secretKey)
    {
        if (secretKey.Length != SecretKeyLength)
            throw new ArgumentException($"an Ed25519 secret key is {SecretKeyLength} bytes, got {secretKey.Length}", nameof(secretKey));
        var publicKey = new byte[PublicKeyLength];
        fixed (byte* p = publicKey)
        fixed (byte* k = secretKey)
            Interop.Sodium.SecretKeyToPublicKey(p, k);
        return publicKey;
    }

    /// <summary>The sizes libsodium was built with: (signature, public key, secret key).</summary>
    public static (int Signature, int PublicKey, int SecretKey) LibrarySizes =>
        ((int)Interop.Sodium.SignatureBytes(), (int)Interop.Sodium.PublicKeyBytes(), (int)Interop.Sodium.SecretKeyBytes());
}
