using System.Runtime.InteropServices;

namespace TvixLowFs.Store.Model.BinaryCache;

internal static unsafe partial class Interop
{
    /// <summary>
    /// Debian's libsodium, the library Nix itself signs and verifies narinfos with. Linked statically
    /// into the NativeAOT binary (DirectPInvoke "libsodium"); JIT runs load libsodium.so (libsodium-dev).
    /// Only pointers and integers cross: nothing is marshalled. Ed25519 has no structs, so there is no
    /// layout to probe; the sizes are checked against <c>crypto_sign_bytes()</c> and friends by the tests.
    /// </summary>
    internal static partial class Sodium
    {
        internal const string Library = "libsodium";

        /// <summary><c>int sodium_init(void)</c>: 0 on the first call, 1 when already done, -1 on failure.</summary>
        [LibraryImport(Library, EntryPoint = "sodium_init")]
        internal static partial int Init();

        /// <summary><c>int crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m, unsigned long long mlen, const unsigned char *pk)</c>: 0 when valid.</summary>
        [LibraryImport(Library, EntryPoint = "crypto_sign_verify_detached")]
        internal static partial int VerifyDetached(byte* signature, byte* message, ulong messageLength, byte* publicKey);

        /// <summary><c>int crypto_sign_detached(unsigned char *sig, unsigned long long *siglen_p, const unsigned char *m, unsigned long long mlen, const unsigned char *sk)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "crypto_sign_detached")]
        internal static partial int SignDetached(byte* signature, ulong* signatureLength, byte* message, ulong messageLength, byte* secretKey);

        /// <summary><c>int crypto_sign_ed25519_sk_to_pk(unsigned char *pk, const unsigned char *sk)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "crypto_sign_ed25519_sk_to_pk")]
        internal static partial int SecretKeyToPublicKey(byte* publicKey, byte* secretKey);

        /// <summary><c>size_t crypto_sign_bytes(void)</c>: the signature size the library was built with (64).</summary>
        [LibraryImport(Library, EntryPoint = "crypto_sign_bytes")]
        internal static partial nuint SignatureBytes();

        /// <summary><c>size_t crypto_sign_publickeybytes(void)</c> (32).</summary>
        [LibraryImport(Library, EntryPoint = "crypto_sign_publickeybytes")]
        internal static partial nuint PublicKeyBytes();

        /// <summary><c>size_t crypto_sign_secretkeybytes(void)</c> (64).</summary>
        [LibraryImport(Library, EntryPoint = "crypto_sign_secretkeybytes")]
        internal static partial nuint SecretKeyBytes();

        /// <summary><c>const char *sodium_version_string(void)</c>: a static string.</summary>
        [LibraryImport(Library, EntryPoint = "sodium_version_string")]
        internal static partial byte* VersionString();
    }
}
