using NUnit.Framework;
using TvixLowFs.Store;

namespace TvixLowFs.Tests.Store;

public sealed class StoreAddressTests
{
    [Test]
    public void The_four_forms_parse()
    {
        Assert.That(StoreAddress.Parse("memory://").Kind, Is.EqualTo(StoreAddressKind.Memory));

        StoreAddress local = StoreAddress.Parse("local:///var/lib/tvixlowfs/");
        Assert.That((local.Kind, local.Path), Is.EqualTo((StoreAddressKind.Local, "/var/lib/tvixlowfs")));

        StoreAddress http = StoreAddress.Parse("grpc+http://localhost:8000");
        Assert.That((http.Kind, http.Host, http.Port), Is.EqualTo((StoreAddressKind.GrpcHttp, "localhost", 8000)));

        StoreAddress v6 = StoreAddress.Parse("grpc+http://[::1]:8000");
        Assert.That((v6.Host, v6.Port), Is.EqualTo(("[::1]", 8000)));

        StoreAddress unix = StoreAddress.Parse("grpc+unix:///run/tvix/store.sock");
        Assert.That((unix.Kind, unix.Path), Is.EqualTo((StoreAddressKind.GrpcUnix, "/run/tvix/store.sock")));
    }

    [Test]
    public void Equal_local_directories_are_equal_addresses()
    {
        Assert.That(StoreAddress.Parse("local:///a/b/"), Is.EqualTo(StoreAddress.Parse("local:///a/./b")));
        Assert.That(StoreAddress.ForLocalDirectory("/a/b"), Is.EqualTo(StoreAddress.Parse("local:///a/b")));
    }

    [TestCase("")]
    [TestCase("memory")]
    [TestCase("/var/lib/store")]
    [TestCase("sled:///var/lib/store")]
    [TestCase("memory://something")]
    [TestCase("local://relative/dir")]
    [TestCase("local://")]
    [TestCase("grpc+http://localhost")]
    [TestCase("grpc+http://:8000")]
    [TestCase("grpc+http://localhost:0")]
    [TestCase("grpc+http://localhost:65536")]
    [TestCase("grpc+http://localhost:80/path")]
    [TestCase("grpc+http://bad host:80")]
    [TestCase("grpc+unix://relative.sock")]
    [TestCase("nix+http://")]
    [TestCase("nix+http:///path")]
    [TestCase("nix+http://user@cache.example")]
    [TestCase("nix+http://cache.example?trusted-public-keys=nocolon")]
    [TestCase("nix+http://cache.example?trusted-public-keys=name:not-base64!")]
    [TestCase("nix+http://cache.example?trusted-public-keys=name:AAAA")]
    [TestCase("nix+http://cache.example?negative-ttl=-1")]
    [TestCase("nix+http://cache.example?negative-ttl=soon")]
    [TestCase("nix+http://cache.example?priority=10")]
    [TestCase("nix+ftp://cache.example")]
    public void A_malformed_address_is_one_error_naming_it(string text)
    {
        var error = Assert.Throws<StoreAddressException>(() => StoreAddress.Parse(text));
        Assert.That(error!.Message, Does.StartWith($"invalid store address '{text}': "));
        Assert.That(error.Message, Does.Not.Contain("\n"));
    }

    private const string NixosKey = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

    [Test]
    public void A_binary_cache_address_has_its_base_url_keys_and_negative_ttl()
    {
        StoreAddress plain = StoreAddress.Parse("nix+http://127.0.0.1:8080");
        Assert.That((plain.Kind, plain.BinaryCache?.ToString(), plain.TrustedPublicKeys.Count, plain.NegativeTtl),
            Is.EqualTo((StoreAddressKind.NixHttp, "http://127.0.0.1:8080/", 0, StoreAddress.DefaultNegativeTtl)));

        StoreAddress https = StoreAddress.Parse("nix+https://cache.example/some/prefix/?negative-ttl=5&trusted-public-keys=" + NixosKey);
        Assert.That(https.BinaryCache?.ToString(), Is.EqualTo("https://cache.example/some/prefix/"));
        Assert.That(https.NegativeTtl, Is.EqualTo(TimeSpan.FromSeconds(5)));
        Assert.That(https.TrustedPublicKeys.Select(k => k.ToString()), Is.EqualTo(new[] { NixosKey }));
    }

    [Test]
    public void Several_keys_are_separated_by_an_encoded_space_or_a_plus()
    {
        // A key whose base64 holds '+': written raw, the form decoding turns it into a space, and the
        // piece without a ':' is joined back onto the key before it.
        string plusKey = "plus-1:" + Convert.ToBase64String([.. Enumerable.Repeat(new byte[] { 0xfb, 0xef, 0xbe }, 10).SelectMany(b => b), 1, 2]);
        Assert.That(plusKey, Does.Contain("+"));
        foreach (string separator in new[] { "%20", "+", "%20%20" })
        {
            StoreAddress address = StoreAddress.Parse($"nix+http://cache.example?trusted-public-keys={NixosKey}{separator}{plusKey}");
            Assert.That(address.TrustedPublicKeys.Select(k => k.ToString()), Is.EqualTo(new[] { NixosKey, plusKey }), separator);
        }
        StoreAddress encoded = StoreAddress.Parse($"nix+http://cache.example?trusted-public-keys={Uri.EscapeDataString(plusKey)}");
        Assert.That(encoded.TrustedPublicKeys.Single().ToString(), Is.EqualTo(plusKey));
    }

    [Test]
    public void A_binary_cache_serves_only_path_infos()
    {
        StoreAddress cache = StoreAddress.Parse("nix+http://127.0.0.1:1");
        var error = Assert.Throws<TvixLowFs.Store.Services.StoreUnavailableException>(() => new StoreOpener().Open(cache, StoreAddress.Memory, StoreAddress.Memory));
        Assert.That(error!.Message, Does.Contain("PathInfos only"));
    }
}
