namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>Nix's substitution rule (ValidPathInfo::checkSignatures with require-sigs on).</summary>
public static class NarInfoTrust
{
    /// <summary>
    /// With no trusted keys: <see cref="SignatureVerdict.NoTrustedKeysConfigured"/> (signatures kept, not
    /// required). With keys: a valid signature from one → <see cref="SignatureVerdict.TrustedSignature"/>;
    /// else a CA path that proves itself → <see cref="SignatureVerdict.ContentAddressed"/>; else
    /// <see cref="SignatureVerdict.Untrusted"/> (the caller treats the path as absent and logs why).
    /// </summary>
    public static SignatureVerdict Check(NarInfo narInfo, IReadOnlyList<NixPublicKey> trusted)
    {
        ArgumentNullException.ThrowIfNull(narInfo);
        ArgumentNullException.ThrowIfNull(trusted);
        if (trusted.Count == 0)
            return SignatureVerdict.NoTrustedKeysConfigured;
        string fingerprint = narInfo.Fingerprint();
        foreach (var signature in narInfo.Signatures)
        {
            foreach (var key in trusted)
            {
                if (key.Verifies(fingerprint, signature))
                    return SignatureVerdict.TrustedSignature;
            }
        }
        return narInfo.ContentAddressProvesStorePath() ? SignatureVerdict.ContentAddressed : SignatureVerdict.Untrusted;
    }
}
