using NUnit.Framework;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Issue 14 point 12, TLS: a real daemon with certificates made in the test, our client through
/// <c>grpc+https://</c> with <c>tls-ca-cert-path</c>; with a client CA, a client without a
/// certificate reads but may not Put, one with a certificate from that CA may, and one with a
/// certificate from another CA does not get in.
/// </summary>
[CancelAfter(120_000)]
public sealed class DaemonTlsTests
{
    private string _directory = null!;
    private TestCertificates _certificates = null!;
    private TestCertificates.Authority _serverCa = null!;
    private TestCertificates.Leaf _server = null!;

    [SetUp]
    public void MakeCertificates()
    {
        _directory = Path.Join(Path.GetTempPath(), "tvixlowfs-tls-" + Guid.NewGuid().ToString("N"));
        _certificates = TestCertificates.In(_directory);
        _serverCa = _certificates.CreateAuthority("servers");
        _server = _certificates.CreateServer(_serverCa);
    }

    [TearDown]
    public void RemoveCertificates() => System.IO.Directory.Delete(_directory, recursive: true);

    private Task<TestDaemon> StartAsync(string? clientCaFile = null) =>
        TestDaemon.StartAsync(Transport.Tcp, options: new DaemonOptions { Tls = new DaemonTls(_server.CertificateFile, _server.KeyFile, clientCaFile) });

    private string Address(TestDaemon daemon, TestCertificates.Leaf? client = null)
    {
        Assert.That(daemon.Address, Does.StartWith("grpc+https://127.0.0.1:"));
        string address = $"{daemon.Address}?{StoreAddress.TlsCaCertOption}={Uri.EscapeDataString(_serverCa.CertificateFile)}";
        if (client is not null)
            address += $"&{StoreAddress.TlsClientCertOption}={Uri.EscapeDataString(client.CertificateFile)}&{StoreAddress.TlsClientKeyOption}={Uri.EscapeDataString(client.KeyFile)}";
        return address;
    }

    private static StoreServices Open(string address) =>
        new StoreOpener(new GrpcStoreConnector(new GrpcClientOptions { Timeout = TimeSpan.FromSeconds(20) })).Open(StoreAddress.Parse(address));

    private static async Task<B3Digest> PutBlobAsync(StoreServices store, byte[] bytes)
    {
        await using var writer = store.Blobs.OpenWrite();
        await writer.WriteAsync(bytes);
        return await writer.CloseAsync();
    }

    [Test]
    public async Task OurClientWritesAndReadsThroughGrpcHttpsWithTheCaFile()
    {
        await using var daemon = await StartAsync();
        await using var store = Open(Address(daemon));
        byte[] bytes = Samples.Bytes(300_000, 1);
        B3Digest digest = await PutBlobAsync(store, bytes);
        Assert.That(digest, Is.EqualTo(B3Digest.Compute(bytes)));
        Assert.That(await store.Blobs.StatAsync(digest), Is.EqualTo(bytes.Length));
        PathInfo pathInfo = Samples.PathInfo();
        Assert.That(await store.PathInfos.PutAsync(pathInfo), Is.EqualTo(pathInfo));
        Assert.That(await daemon.Store.Blobs.StatAsync(digest), Is.EqualTo(bytes.Length), "it went to the daemon's store");
    }

    [Test]
    public async Task ADaemonCertificateNoTrustedCaSignedIsRefusedByTheClient()
    {
        await using var daemon = await StartAsync();
        // The system trust store does not know the test's CA.
        var e = Assert.Throws<StoreUnavailableException>(() => Open(daemon.Address));
        Assert.That(e!.Message, Does.Contain("cannot reach"));
        TestCertificates.Authority other = _certificates.CreateAuthority("elsewhere");
        e = Assert.Throws<StoreUnavailableException>(() =>
            Open($"{daemon.Address}?{StoreAddress.TlsCaCertOption}={Uri.EscapeDataString(other.CertificateFile)}"));
        Assert.That(e!.Message, Does.Contain("cannot reach"));
    }

    [Test]
    public async Task WithAClientCaOnlyClientsWithItsCertificatePutOthersRead()
    {
        TestCertificates.Authority clients = _certificates.CreateAuthority("clients");
        TestCertificates.Leaf runner = _certificates.CreateClient(clients, "runner");
        await using var daemon = await StartAsync(clients.CertificateFile);
        byte[] stored = Samples.Bytes(1000, 2);
        B3Digest storedDigest = await PutBlobAsync(daemon.Store, stored);

        // No certificate: reads work, Puts are PERMISSION_DENIED and store nothing.
        await using (var anonymous = Open(Address(daemon)))
        {
            Assert.That(await anonymous.Blobs.StatAsync(storedDigest), Is.EqualTo(stored.Length));
            byte[] refused = Samples.Bytes(1000, 3);
            var e = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await PutBlobAsync(anonymous, refused));
            Assert.That(e!.Message, Does.Contain("PermissionDenied").And.Contain("client certificate"));
            var p = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await anonymous.PathInfos.PutAsync(Samples.PathInfo()));
            Assert.That(p!.Message, Does.Contain("PermissionDenied"));
            Assert.That(await daemon.Store.Blobs.StatAsync(B3Digest.Compute(refused)), Is.Null);
            Assert.That(await daemon.Store.PathInfos.GetAsync(StorePathHash.FromBytes(Samples.StorePathHashBytes)), Is.Null);
        }

        // A certificate from the client CA: Puts are accepted.
        await using (var trusted = Open(Address(daemon, runner)))
        {
            byte[] bytes = Samples.Bytes(1000, 4);
            Assert.That(await PutBlobAsync(trusted, bytes), Is.EqualTo(B3Digest.Compute(bytes)));
            Assert.That(await trusted.PathInfos.PutAsync(Samples.PathInfo()), Is.EqualTo(Samples.PathInfo()));
            Assert.That(await daemon.Store.Blobs.StatAsync(B3Digest.Compute(bytes)), Is.EqualTo(bytes.Length));
        }

        // A certificate from another CA does not get through the handshake.
        TestCertificates.Authority rogueCa = _certificates.CreateAuthority("rogue");
        TestCertificates.Leaf rogue = _certificates.CreateClient(rogueCa, "intruder");
        var refusedClient = Assert.Throws<StoreUnavailableException>(() => Open(Address(daemon, rogue)));
        Assert.That(refusedClient!.Message, Does.Contain("cannot reach"));
    }
}
