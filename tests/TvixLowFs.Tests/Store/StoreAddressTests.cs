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
    public void A_malformed_address_is_one_error_naming_it(string text)
    {
        var error = Assert.Throws<StoreAddressException>(() => StoreAddress.Parse(text));
        Assert.That(error!.Message, Does.StartWith($"invalid store address '{text}': "));
        Assert.That(error.Message, Does.Not.Contain("\n"));
    }
}
