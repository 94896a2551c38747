using NUnit.Framework;
using Google.Protobuf;
using Grpc.Core;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Store;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Issue 14 point 11: a registered store path never changes. Over the daemon, on either backend, a
/// PathInfo with another root node is ALREADY_EXISTS and the stored one stays; the same again is OK;
/// our client turns the status into <see cref="StorePathConflictException"/>.
/// </summary>
[TestFixture(StoreKind.Memory)]
[TestFixture(StoreKind.Local)]
[CancelAfter(60_000)]
public sealed class PathInfoImmutabilityTests(StoreKind kind)
{
    private TestStore _store = null!;
    private TestDaemon _daemon = null!;

    [SetUp]
    public async Task Start()
    {
        _store = TestStore.Create(kind);
        _daemon = await TestDaemon.StartAsync(Transport.Tcp, _store.Services);
    }

    [TearDown]
    public async Task Stop()
    {
        await _daemon.DisposeAsync(); // disposes the store's services too
        await _store.DisposeAsync();
    }

    private static PathInfo Other(PathInfo pathInfo)
    {
        PathInfo other = pathInfo.Clone();
        other.Node.Symlink.Target = ByteString.CopyFromUtf8("/nix/store/another-target");
        return other;
    }

    [Test]
    public async Task APutWithAnotherRootNodeIsAlreadyExistsAndNeverOverwrites()
    {
        using var channel = _daemon.OpenPlainChannel();
        var client = new PathInfoService.PathInfoServiceClient(channel);
        PathInfo first = Samples.PathInfo();
        await client.PutAsync(first);

        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.PutAsync(Other(first)));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.AlreadyExists));
        Assert.That(e.Status.Detail, Does.Contain(Samples.StorePathHashText + "-hello").And.Contain("immutable"));

        var stored = await client.GetAsync(new GetPathInfoRequest { ByOutputHash = ByteString.CopyFrom(Samples.StorePathHashBytes) });
        Assert.That(stored, Is.EqualTo(first));
    }

    [Test]
    public async Task TheSameContentAgainIsAcceptedAndAnswersWhatIsStored()
    {
        using var channel = _daemon.OpenPlainChannel();
        var client = new PathInfoService.PathInfoServiceClient(channel);
        PathInfo first = Samples.PathInfo();
        Assert.That(await client.PutAsync(first), Is.EqualTo(first));
        Assert.That(await client.PutAsync(first.Clone()), Is.EqualTo(first));

        PathInfo moreSignatures = first.Clone();
        moreSignatures.Narinfo.Signatures.Add(new NARInfo.Types.Signature { Name = "other-1", Data = ByteString.CopyFrom(new byte[64]) });
        Assert.That(await client.PutAsync(moreSignatures), Is.EqualTo(first), "same root node: accepted, the first registration stays");
    }

    [Test]
    public async Task OurClientSeesAConflictException()
    {
        using var connector = new GrpcStoreConnector(new GrpcClientOptions());
        await using IPathInfoService pathInfos = await connector.OpenPathInfoServiceAsync(StoreAddress.Parse(_daemon.Address));
        PathInfo first = Samples.PathInfo();
        await pathInfos.PutAsync(first);
        var e = await Assert.ThrowsAsync<StorePathConflictException>(async () => await pathInfos.PutAsync(Other(first)));
        Assert.That(e!.Message, Does.Contain("immutable"));
    }
}
