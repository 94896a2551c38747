using NUnit.Framework;
using TvixLowFs.Store;

namespace TvixLowFs.Tests.Grpc;

/// <summary><c>grpc+https://</c> addresses and their TLS query options, spelled as snix spells them.</summary>
public sealed class GrpcHttpsAddressTests
{
    [Test]
    public void TheTlsOptionsAreParsedAndPartOfTheEndpoint()
    {
        var plain = StoreAddress.Parse("grpc+https://store.example:443");
        Assert.That((plain.Kind, plain.Tls, plain.Host, plain.Port, plain.TlsCaCertPath), Is.EqualTo((StoreAddressKind.GrpcHttp, true, "store.example", 443, (string?)null)));
        Assert.That(plain, Is.EqualTo(StoreAddress.Parse("grpc+https://store.example:443/")), "one endpoint, two spellings");

        var full = StoreAddress.Parse("grpc+https://[::1]:8000?tls-ca-cert-path=/etc/ca%20s.pem&tls-client-cert-path=/c.pem&tls-client-key-path=/c.key");
        Assert.That((full.Host, full.TlsCaCertPath, full.TlsClientCertPath, full.TlsClientKeyPath), Is.EqualTo(("[::1]", "/etc/ca s.pem", "/c.pem", "/c.key")));
        Assert.That(StoreAddress.Parse("grpc+https://[::1]:8000?tls-client-key-path=/c.key&tls-client-cert-path=/c.pem&tls-ca-cert-path=/etc/ca%20s.pem"),
            Is.EqualTo(full), "the options in another order");
        Assert.That(full, Is.Not.EqualTo(StoreAddress.Parse("grpc+https://[::1]:8000?tls-ca-cert-path=/etc/ca.pem")), "another CA is another channel");
        Assert.That(full, Is.Not.EqualTo(StoreAddress.Parse("grpc+http://[::1]:8000")), "TLS is part of the address");
    }

    [TestCase("grpc+https://host:443?tls-client-cert-path=/c.pem", "go together")]
    [TestCase("grpc+https://host:443?tls-client-key-path=/c.key", "go together")]
    [TestCase("grpc+https://host:443?tls-ca-cert-path=relative.pem", "absolute")]
    [TestCase("grpc+https://host:443?ca-file=/ca.pem", "unknown option 'ca-file'")]
    [TestCase("grpc+https://host", "grpc+https://HOST:PORT")]
    [TestCase("grpc+http://host:80?tls-ca-cert-path=/ca.pem", "grpc+http://HOST:PORT")]
    public void MalformedAddressesAreOneErrorNamingThem(string text, string reason)
    {
        var e = Assert.Throws<StoreAddressException>(() => StoreAddress.Parse(text));
        Assert.That(e!.Message, Does.Contain(text).And.Contain(reason));
    }
}
