using Grpc.Net.Client;
using NUnit.Framework;
using TvixLowFs.Protos.Store;
using StorePath = TvixLowFs.Store.Model.StorePath;
using TvixLowFs.Store;
using TvixLowFs.Store.BinaryCache;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Grpc;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// The nix+http PathInfo service in-process, against a real cache made by real Nix and served by
/// python's static server: how long absence is remembered, what is kept where, and a daemon that
/// fronts a binary cache for tvix clients.
/// </summary>
[NonParallelizable]
public sealed class NixHttpPathInfoServiceTests
{
    private NixBinaryCacheFixture _nix = null!;
    private StaticHttpServer _server = null!;
    private string _work = null!;

    [OneTimeSetUp]
    public void Serve()
    {
        _nix = new NixBinaryCacheFixture();
        _server = new StaticHttpServer(_nix.Caches["zstd"]);
        _work = Path.Combine(Path.GetTempPath(), "tvixlowfs-nixhttp-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
    }

    [OneTimeTearDown]
    public void StopServing()
    {
        _server?.Dispose();
        _nix?.Dispose();
        if (_work is not null && Directory.Exists(_work))
            Directory.Delete(_work, recursive: true);
    }

    /// <summary>A clock the test moves by hand (a test double of <see cref="TimeProvider"/>).</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Interlocked.Read(ref _ticks);
        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }

    /// <summary>python logs a request after answering it: wait (bounded) until the count is reached.</summary>
    private int RequestsFor(string path, int atLeast)
    {
        for (int i = 0; i < 100 && _server.CountOf(path) < atLeast; i++)
            Thread.Sleep(20);
        Thread.Sleep(100); // and a little longer, so an unwanted extra request would show
        return _server.CountOf(path);
    }

    private NixHttpPathInfoService Open(string query, TimeProvider clock, out StoreServices store)
    {
        store = new StoreOpener().Open(StoreAddress.Memory);
        var address = StoreAddress.Parse($"nix+http://127.0.0.1:{_server.Port}?trusted-public-keys={NixBinaryCacheFixture.EscapeQueryValue(_nix.PublicKey)}{query}");
        return new NixHttpPathInfoService(address, store.Blobs, store.Directories, store.PathInfos, ownsKept: false, time: clock);
    }

    [Test, CancelAfter(60_000)]
    public async Task Absence_is_remembered_for_the_negative_ttl_and_then_asked_again()
    {
        var clock = new ManualClock();
        await using var service = Open("&negative-ttl=10", clock, out StoreServices store);
        await using StoreServices _ = store;
        StorePathHash absent = StorePath.ParseBasename("11111111111111111111111111111111-absent").Hash;
        string narInfo = "/" + NixBase32.Encode(absent.ToArray()) + ".narinfo";
        Assert.That(_server.CountOf(narInfo), Is.Zero, "no other test asks for this path");

        Assert.That(await service.GetAsync(absent), Is.Null);
        Assert.That(await service.GetAsync(absent), Is.Null);
        Assert.That(RequestsFor(narInfo, 1), Is.EqualTo(1), "the second lookup within the TTL asks nothing");

        clock.Advance(TimeSpan.FromSeconds(11));
        Assert.That(await service.GetAsync(absent), Is.Null);
        Assert.That(RequestsFor(narInfo, 2), Is.EqualTo(2), "after the TTL the cache is asked again (a path pushed later would appear)");
    }

    [Test, CancelAfter(60_000)]
    public async Task A_substituted_path_is_answered_from_the_kept_service_without_a_request()
    {
        await using var service = Open("", new ManualClock(), out StoreServices store);
        await using StoreServices _ = store;
        StorePath tree = StorePath.ParseBasename(_nix.TreeBasename);
        string narInfo = "/" + tree.HashPart + ".narinfo";
        int before = _server.CountOf(narInfo);

        PathInfo first = (await service.GetAsync(tree.Hash))!;
        Assert.That(PathInfoRules.Validate(first), Is.EqualTo(tree));
        Assert.That(await store.PathInfos.GetAsync(tree.Hash), Is.EqualTo(first), "kept in the service it was given");
        PathInfo second = (await service.GetAsync(tree.Hash))!;
        Assert.That(second, Is.EqualTo(first));
        Assert.That(RequestsFor(narInfo, before + 1), Is.EqualTo(before + 1));
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await service.PutAsync(first), "a binary cache is read-only here");
    }

    [Test, CancelAfter(120_000)]
    public async Task A_daemon_whose_path_info_service_is_a_binary_cache_answers_get_for_tvix_clients()
    {
        string storeDirectory = Path.Combine(_work, "daemon-store-" + Guid.NewGuid().ToString("N"));
        StoreAddress local = StoreAddress.ForLocalDirectory(storeDirectory);
        StoreAddress cache = StoreAddress.Parse($"nix+http://127.0.0.1:{_server.Port}?trusted-public-keys={NixBinaryCacheFixture.EscapeQueryValue(_nix.PublicKey)}");
        StoreServices store = new StoreOpener(binaryCaches: new BinaryCacheOpenOptions { KeptDirectory = Path.Combine(_work, "kept") })
            .Open(local, local, cache);
        await using TestDaemon daemon = await TestDaemon.StartAsync(Transport.Unix, store);
        using GrpcChannel channel = daemon.OpenPlainChannel();
        var client = new PathInfoService.PathInfoServiceClient(channel);
        StorePath output = StorePath.ParseBasename(_nix.OutputBasename);

        PathInfo pathInfo = await client.GetAsync(new GetPathInfoRequest { ByOutputHash = Google.Protobuf.ByteString.CopyFrom(output.Hash.ToArray()) });

        Assert.That(PathInfoRules.Validate(pathInfo), Is.EqualTo(output));
        Assert.That(pathInfo.Narinfo.ReferenceNames, Is.EquivalentTo(new[] { _nix.TreeBasename }));
        Assert.That(pathInfo.Narinfo.Deriver.Name, Is.EqualTo(_nix.DeriverBasename[33..]));
        Assert.That(pathInfo.Narinfo.Signatures.Select(s => s.Name), Does.Contain(NixBinaryCacheFixture.KeyName));
        // The daemon's own NAR calculation over what it ingested agrees with the narinfo.
        var nar = await client.CalculateNARAsync(pathInfo.Node);
        Assert.That(nar.NarSha256, Is.EqualTo(pathInfo.Narinfo.NarSha256));
        var absent = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(async () => await client.GetAsync(new GetPathInfoRequest
        {
            ByOutputHash = Google.Protobuf.ByteString.CopyFrom(new byte[20]),
        }));
        Assert.That(absent!.StatusCode, Is.EqualTo(global::Grpc.Core.StatusCode.NotFound));
    }
}
