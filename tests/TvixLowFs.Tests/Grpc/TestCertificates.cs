using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Real X.509 certificates made for a test with .NET's CertificateRequest and written as PEM files:
/// a CA, a server certificate it signed for 127.0.0.1/localhost, and client certificates.
/// </summary>
public sealed class TestCertificates
{
    private readonly string _directory;

    private TestCertificates(string directory) => _directory = directory;

    /// <summary>A CA (its certificate at <c>NAME-ca.pem</c>) and its key, to sign others with.</summary>
    public sealed record Authority(string CertificateFile, X509Certificate2 Certificate);

    /// <summary>A leaf certificate's PEM certificate and key files.</summary>
    public sealed record Leaf(string CertificateFile, string KeyFile);

    public static TestCertificates In(string directory)
    {
        System.IO.Directory.CreateDirectory(directory);
        return new TestCertificates(directory);
    }

    public Authority CreateAuthority(string name)
    {
        // Not disposed: the CA's certificate signs with this key for the rest of the test.
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        string file = Path.Join(_directory, name + "-ca.pem");
        File.WriteAllText(file, certificate.ExportCertificatePem());
        return new Authority(file, certificate);
    }

    /// <summary>A server certificate for 127.0.0.1, ::1 and localhost, signed by <paramref name="issuer"/>.</summary>
    public Leaf CreateServer(Authority issuer, string name = "server") =>
        CreateLeaf(issuer, name, "1.3.6.1.5.5.7.3.1", request =>
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddIpAddress(IPAddress.IPv6Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
        });

    /// <summary>A client-authentication certificate signed by <paramref name="issuer"/>.</summary>
    public Leaf CreateClient(Authority issuer, string name) => CreateLeaf(issuer, name, "1.3.6.1.5.5.7.3.2", _ => { });

    private Leaf CreateLeaf(Authority issuer, string name, string usage, Action<CertificateRequest> extend)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer.Certificate, true, false));
        extend(request);
        byte[] serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using X509Certificate2 certificate = request.Create(issuer.Certificate, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(12), serial);
        string certificateFile = Path.Join(_directory, name + ".pem");
        string keyFile = Path.Join(_directory, name + ".key");
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return new Leaf(certificateFile, keyFile);
    }
}
