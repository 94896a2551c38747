using NUnit.Framework;
using TvixLowFs.Store.BinaryCache;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.BinaryCache.Http;

/// <summary>
/// BinaryCacheHttpClient and NarCompression against the caches real Nix 2.8 wrote
/// (<see cref="NixBinaryCaches"/>), served by a real static server that is not our code
/// (python3 -m http.server on 127.0.0.1): narinfos and nix-cache-info whole, every NAR streamed
/// and decompressed to the exact NAR, absent files as null / StoreNotFoundException.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class StaticServerTests
{
    private readonly Dictionary<string, PythonHttpServer> _servers = new();

    [OneTimeSetUp]
    public void StartServers()
    {
        foreach (string compression in NixBinaryCaches.Compressions)
            _servers[compression] = PythonHttpServer.Start(NixBinaryCaches.CacheOf(compression));
    }

    [OneTimeTearDown]
    public void StopServers()
    {
        foreach (PythonHttpServer server in _servers.Values) server.Dispose();
    }

    private static BinaryCacheHttpClient Client(Uri baseUri) =>
        new(baseUri, new BinaryCacheHttpOptions { StallTimeout = TimeSpan.FromSeconds(10), RetryDelay = TimeSpan.FromMilliseconds(50) });

    [TestCaseSource(typeof(NixBinaryCaches), nameof(NixBinaryCaches.Compressions))]
    public async Task NarInfoAndCacheInfoAreFetchedWhole(string compression)
    {
        CancellationToken cancel = TestContext.CurrentContext.CancellationToken;
        using BinaryCacheHttpClient client = Client(_servers[compression].BaseUri);
        var (fileName, _) = NixBinaryCaches.NarInfoOf(compression);
        byte[]? narInfo = await client.GetSmallAsync(fileName, 64 * 1024, cancel);
        byte[]? cacheInfo = await client.GetSmallAsync("nix-cache-info", 64 * 1024, cancel);
        Assert.Multiple(() =>
        {
            Assert.That(narInfo, Is.EqualTo(File.ReadAllBytes(Path.Combine(NixBinaryCaches.CacheOf(compression), fileName))));
            Assert.That(cacheInfo, Is.EqualTo(File.ReadAllBytes(Path.Combine(NixBinaryCaches.CacheOf(compression), "nix-cache-info"))));
            Assert.That(System.Text.Encoding.UTF8.GetString(cacheInfo!), Does.Contain("StoreDir: /nix/store"));
            Assert.That(client.RequestCount, Is.EqualTo(2));
            Assert.That(client.BytesReceived, Is.EqualTo(narInfo!.Length + cacheInfo!.Length));
        });
    }

    [TestCaseSource(typeof(NixBinaryCaches), nameof(NixBinaryCaches.Compressions))]
    public async Task EveryNarStreamsAndDecompressesToTheExactNar(string compression)
    {
        CancellationToken cancel = TestContext.CurrentContext.CancellationToken;
        using BinaryCacheHttpClient client = Client(_servers[compression].BaseUri);
        var (_, fields) = NixBinaryCaches.NarInfoOf(compression);
        await using Stream file = await client.OpenReadAsync(fields["URL"], cancel);
        await using Stream nar = NarCompression.Open(file, fields["Compression"]);
        var output = new MemoryStream();
        await nar.CopyToAsync(output, 16 * 1024, cancel);
        Assert.Multiple(() =>
        {
            Assert.That(output.ToArray(), Is.EqualTo(NixBinaryCaches.Nar));
            Assert.That(client.BytesReceived, Is.EqualTo(long.Parse(fields["FileSize"])));
        });
    }

    [Test]
    public async Task AnAbsoluteUrlWorksToo()
    {
        CancellationToken cancel = TestContext.CurrentContext.CancellationToken;
        var (_, fields) = NixBinaryCaches.NarInfoOf("xz");
        // A client for another base: the narinfo's URL may name any http(s) location.
        using BinaryCacheHttpClient client = Client(new Uri(_servers["none"].BaseUri, "elsewhere/"));
        await using Stream file = await client.OpenReadAsync(new Uri(_servers["xz"].BaseUri, fields["URL"]).AbsoluteUri, cancel);
        await using Stream nar = NarCompression.Open(file, "xz");
        var output = new MemoryStream();
        await nar.CopyToAsync(output, cancel);
        Assert.That(output.ToArray(), Is.EqualTo(NixBinaryCaches.Nar));
    }

    [Test]
    public async Task AbsentFilesAreNullOrNotFound()
    {
        CancellationToken cancel = TestContext.CurrentContext.CancellationToken;
        using BinaryCacheHttpClient client = Client(_servers["xz"].BaseUri);
        Assert.That(await client.GetSmallAsync("00000000000000000000000000000000.narinfo", 1024, cancel), Is.Null);
        var failure = await Assert.ThrowsAsync<StoreNotFoundException>(() => client.OpenReadAsync("nar/missing.nar.xz", cancel));
        Assert.That(failure!.Message, Does.Contain(new Uri(client.BaseUri, "nar/missing.nar.xz").AbsoluteUri).And.Contain("404"));
        // An absent file is answered, not retried.
        Assert.That(client.RequestCount, Is.EqualTo(2));
    }

    [Test]
    public async Task BaseUriAlwaysEndsWithASlash()
    {
        using var bare = new BinaryCacheHttpClient(new Uri("http://127.0.0.1:1/cache"), new BinaryCacheHttpOptions());
        using var slashed = new BinaryCacheHttpClient(new Uri("http://127.0.0.1:1/cache/"), new BinaryCacheHttpOptions());
        using var root = new BinaryCacheHttpClient(new Uri("http://127.0.0.1:1"), new BinaryCacheHttpOptions());
        Assert.Multiple(() =>
        {
            Assert.That(bare.BaseUri.AbsoluteUri, Is.EqualTo("http://127.0.0.1:1/cache/"));
            Assert.That(slashed.BaseUri.AbsoluteUri, Is.EqualTo("http://127.0.0.1:1/cache/"));
            Assert.That(root.BaseUri.AbsoluteUri, Is.EqualTo("http://127.0.0.1:1/"));
            Assert.Throws<ArgumentException>(() => new BinaryCacheHttpClient(new Uri("ftp://127.0.0.1/"), new BinaryCacheHttpOptions()));
        });
        var failure = await Assert.ThrowsAsync<StoreUnavailableException>(() => bare.OpenReadAsync("file:///etc/passwd", CancellationToken.None));
        Assert.That(failure!.Message, Does.Contain("file:///etc/passwd"));
        Assert.That(bare.RequestCount, Is.Zero);
    }
}
