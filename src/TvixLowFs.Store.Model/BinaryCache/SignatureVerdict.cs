namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>What <see cref="NarInfoTrust.Check"/> found.</summary>
public enum SignatureVerdict
{
    /// <summary>A signature from one of the trusted keys verifies.</summary>
    TrustedSignature,

    /// <summary>No trusted signature, but the CA field reproduces the store path (Nix needs no signature then).</summary>
    ContentAddressed,

    /// <summary>No keys are configured: signatures are kept, not required.</summary>
    NoTrustedKeysConfigured,

    /// <summary>Keys are configured and nothing vouches for the path: treat it as absent.</summary>
    Untrusted,
}
