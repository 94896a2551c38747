using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using TvixLowFs.Store;

namespace TvixLowFs.Store.Grpc.Client;

/// <summary>
/// The TLS side of a <c>grpc+https://</c> channel: the daemon's certificate is checked against the
/// system trust store, or only against the CAs of <c>tls-ca-cert-path</c>; a client certificate
/// (<c>tls-client-cert-path</c> + <c>tls-client-key-path</c>) is presented when given — a daemon with
/// <c>--client-ca-file</c> lets only such clients write. Files are read once, when the channel opens.
/// </summary>
internal static class GrpcTlsClientOptions
{
    public static SslClientAuthenticationOptions Create(StoreAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var options = new SslClientAuthenticationOptions { TargetHost = address.Host!.Trim('[', ']') };
        if (address.TlsCaCertPath is { } caPath)
        {
            var authorities = new X509Certificate2Collection();
            try
            {
                authorities.ImportFromPemFile(caPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw new FormatException($"'{address}': cannot read {StoreAddress.TlsCaCertOption} '{caPath}': {e.Message}", e);
            }
            if (authorities.Count == 0)
                throw new FormatException($"'{address}': {StoreAddress.TlsCaCertOption} '{caPath}' holds no PEM certificate");
            options.CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            options.CertificateChainPolicy.CustomTrustStore.AddRange(authorities);
        }
        if (address.TlsClientCertPath is { } certPath)
        {
            X509Certificate2 certificate;
            try
            {
                certificate = X509Certificate2.CreateFromPemFile(certPath, address.TlsClientKeyPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                throw new FormatException($"'{address}': cannot read the client certificate '{certPath}' and its key: {e.Message}", e);
            }
            options.ClientCertificates = new X509CertificateCollection { certificate };
        }
        return options;
    }
}
