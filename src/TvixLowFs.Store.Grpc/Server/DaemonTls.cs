using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// TLS for the daemon (<c>--tls-cert-file</c>, <c>--tls-key-file</c>, <c>--client-ca-file</c>), PEM
/// files. With a client CA, a client may present a certificate; one that does not chain to that CA
/// fails the handshake, and only connections that presented a valid one may Put
/// (<see cref="DaemonWritePolicy"/>). Clients reach it as <c>grpc+https://HOST:PORT</c>.
/// </summary>
public sealed record DaemonTls(string CertificateFile, string KeyFile, string? ClientCaFile = null)
{
    /// <summary>Reads the files; throws <see cref="IOException"/> naming the file that could not be used.</summary>
    internal HttpsConnectionAdapterOptions Load()
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(CertificateFile, KeyFile);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or UnauthorizedAccessException or IOException)
        {
            throw new IOException($"cannot use the TLS certificate '{CertificateFile}' with the key '{KeyFile}': {e.Message}", e);
        }
        var options = new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ClientCertificateMode = ClientCertificateMode.NoCertificate,
        };
        if (ClientCaFile is null)
            return options;

        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(ClientCaFile);
        }
        catch (Exception e) when (e is CryptographicException or UnauthorizedAccessException or IOException)
        {
            throw new IOException($"cannot read the client CA file '{ClientCaFile}': {e.Message}", e);
        }
        if (authorities.Count == 0)
            throw new IOException($"the client CA file '{ClientCaFile}' holds no PEM certificate");
        // Asked for, not required: a client without one still reads.
        options.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
        options.ClientCertificateValidation = (presented, _, _) => ChainsTo(presented, authorities);
        return options;
    }

    /// <summary>Only the configured CAs are trusted for client certificates, never the system's.</summary>
    private static bool ChainsTo(X509Certificate2 presented, X509Certificate2Collection authorities)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2")); // client authentication
        return chain.Build(presented);
    }
}
