using System.Text;
using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Model;
using StorePath = TvixLowFs.Store.Model.StorePath;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Reliability;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Issue 14 point 7: a PathInfo that names another store path than the one asked for is an
/// absent path (ENOENT), over gRPC as on every other backend. The daemon is the hostile gRPC
/// server double (our daemon would never serve such a PathInfo), the client and mount are real.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class ForeignPathInfoTests
{
    private HostileStoreDaemonDouble _daemon = null!;
    private HostileCatalogue _catalogue = null!;
    private string _askedFor = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _catalogue = new HostileCatalogue(nameof(ForeignPathInfoTests), withLyingBlob: false);
        // Asked for by one hash, answered with the (healthy) PathInfo of another store path.
        _askedFor = HostileCatalogue.Basename("asked-for", nameof(ForeignPathInfoTests));
        _catalogue.PathInfos[StorePath.ParseBasename(_askedFor).Hash] = _catalogue.PathInfos[StorePath.ParseBasename(_catalogue.GoodBasename).Hash];
        _daemon = await HostileStoreDaemonDouble.StartAsync(_catalogue);
    }

    [TearDown]
    public async Task StopAsync() => await _daemon.DisposeAsync();

    private StoreServices OpenClient()
    {
        using var connector = new GrpcStoreConnector(new GrpcClientOptions { Timeout = TimeSpan.FromSeconds(10) });
        return new StoreOpener(connector).Open(StoreAddress.Parse(_daemon.Address));
    }

    [Test]
    public async Task TheGrpcClientAnswersAForeignPathInfoAsAbsent()
    {
        await using StoreServices store = OpenClient();
        Assert.That(await store.PathInfos.GetAsync(StorePath.ParseBasename(_askedFor).Hash), Is.Null);
        Assert.That(await store.PathInfos.GetAsync(StorePath.ParseBasename(_catalogue.GoodBasename).Hash), Is.Not.Null, "the right one is served");
    }

    [Test]
    public async Task AMountOverGrpcAnswersENOENTForAForeignPathInfo()
    {
        await using StoreServices store = OpenClient();
        using var mount = new InProcessMount(store, new StoreFilesystemOptions());
        int askedFor = BoundedCall.Run(() => Libc.LStat(mount.PathOf(_askedFor), out _), "lookup of the path asked for");
        // The name the foreign PathInfo carries, under the hash asked for: still not that path.
        string renamed = _askedFor[..StorePath.HashChars] + _catalogue.GoodBasename[StorePath.HashChars..];
        int carriedName = BoundedCall.Run(() => Libc.LStat(mount.PathOf(renamed), out _), "lookup of the name it carries");
        int healthy = BoundedCall.Run(() => Libc.LStat(mount.PathOf(_catalogue.GoodBasename, "f"), out _), "lookup of the healthy path");
        Assert.Multiple(() =>
        {
            Assert.That(askedFor, Is.EqualTo(Libc.ENOENT), "the path asked for");
            Assert.That(carriedName, Is.EqualTo(Libc.ENOENT), "the name the foreign PathInfo carries");
            Assert.That(healthy, Is.Zero, "the healthy path");
        });
    }
}
