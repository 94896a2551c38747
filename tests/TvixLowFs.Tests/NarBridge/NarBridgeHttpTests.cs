using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using NUnit.Framework;
using TvixLowFs.NarBridge;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Model.BinaryCache;
using TvixLowFs.Tests.BinaryCache;

namespace TvixLowFs.Tests.NarBridge;

/// <summary>
/// nar-bridge over HTTP, in process: what it serves (nix-cache-info, narinfos, rendered NARs with
/// HEAD and ranges, 404s) and every upload it must refuse (status, one-line reason, a warning line,
/// nothing registered). Uploads are what real Nix wrote: the NARs and narinfos of the fixture's
/// uncompressed cache, sent as <c>nix copy --to</c> sends them.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class NarBridgeHttpTests
{
    private NixBinaryCacheFixture _nix = null!;
    private NixSecretKey _key = null!;
    private readonly List<InProcessNarBridge> _bridges = [];

    [OneTimeSetUp]
    public void BuildTheCaches()
    {
        _nix = new NixBinaryCacheFixture();
        _key = NixSecretKey.Load(_nix.UntrustedSecretKeyFile);
    }

    [OneTimeTearDown]
    public void RemoveTheCaches() => _nix?.Dispose();

    [TearDown]
    public async Task StopTheBridges()
    {
        foreach (var bridge in _bridges)
            await bridge.DisposeAsync();
        _bridges.Clear();
    }

    private async Task<(InProcessNarBridge Bridge, HttpClient Http)> StartAsync(NarBridgeOptions? options = null)
    {
        var bridge = await InProcessNarBridge.StartAsync(options ?? new NarBridgeOptions { Writable = true, SigningKey = _key });
        _bridges.Add(bridge);
        var http = new HttpClient { BaseAddress = new Uri(bridge.BaseUrl + "/"), Timeout = TimeSpan.FromSeconds(60) };
        return (bridge, http);
    }

    private string NoneCache => _nix.Caches["none"];

    private NarInfoLines FixtureNarInfo(string basename) => _nix.NarInfo("none", basename);

    private string NarInfoText(string basename) => File.ReadAllText(NixBinaryCacheFixture.NarInfoFile(NoneCache, basename));

    private byte[] NarBytes(string basename) => File.ReadAllBytes(NixBinaryCacheFixture.NarFile(NoneCache, basename));

    private static string NarInfoUrl(string basename) => NixBinaryCacheFixture.HashOf(basename) + ".narinfo";

    private static string UploadUrl(byte[] file) => "nar/" + NixBase32.Encode(SHA256.HashData(file)) + ".nar";

    /// <summary>PUTs the NAR and then the narinfo of <paramref name="basename"/> as Nix does; both must succeed.</summary>
    private async Task PushAsync(HttpClient http, string basename)
    {
        using (var nar = await http.PutAsync(FixtureNarInfo(basename)["URL"], Content(NarBytes(basename), NarEndpoint.ContentType)))
            Assert.That(nar.StatusCode, Is.EqualTo(HttpStatusCode.OK), "PUT of the NAR of " + basename + ": " + await nar.Content.ReadAsStringAsync());
        using var narInfo = await http.PutAsync(NarInfoUrl(basename), Content(Encoding.UTF8.GetBytes(NarInfoText(basename)), NarInfoEndpoint.ContentType));
        Assert.That(narInfo.StatusCode, Is.EqualTo(HttpStatusCode.OK), "PUT of the narinfo of " + basename + ": " + await narInfo.Content.ReadAsStringAsync());
    }

    private async Task PushAllAsync(HttpClient http)
    {
        // Dependencies first, as Nix sends them.
        await PushAsync(http, _nix.TreeBasename);
        await PushAsync(http, _nix.SingleFileBasename);
        await PushAsync(http, _nix.OutputBasename);
    }

    private static ByteArrayContent Content(byte[] bytes, string contentType)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return content;
    }

    private static async Task<int> RegisteredCountAsync(InProcessNarBridge bridge)
    {
        int count = 0;
        await foreach (var _ in bridge.Store.PathInfos.ListAsync())
            count++;
        return count;
    }

    /// <summary>A refusal: the status, the reason as the body's one line, the same reason in one warning line.</summary>
    private static async Task AssertRefusedAsync(HttpResponseMessage response, InProcessNarBridge bridge, HttpStatusCode status, string reasonPart)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(status), body);
        Assert.That(body, Does.Contain(reasonPart));
        Assert.That(body.TrimEnd('\n'), Does.Not.Contain('\n'), "the reason is one line");
        AssertWarned(bridge, (int)status, reasonPart);
    }

    /// <summary>The request just refused logged exactly one warning, with its status and reason, before its own debug line.</summary>
    private static void AssertWarned(InProcessNarBridge bridge, int status, string reasonPart)
    {
        var lines = bridge.Lines.ToArray();
        static bool IsRequestLine((LogLevel Level, string Message) line) =>
            line.Level == LogLevel.Debug && System.Text.RegularExpressions.Regex.IsMatch(line.Message, @" -> \d{3} in [0-9.]+ ms$");
        int last = Array.FindLastIndex(lines, IsRequestLine);
        Assert.That(last, Is.GreaterThanOrEqualTo(0), bridge.LogText);
        Assert.That(lines[last].Message, Does.Contain($"-> {status} in "), bridge.LogText);
        int previous = Array.FindLastIndex(lines, last - 1, last, IsRequestLine);
        string[] warnings = [.. lines[(previous + 1)..last].Where(l => l.Level == LogLevel.Warning).Select(l => l.Message)];
        Assert.That(warnings, Has.Length.EqualTo(1), "one warning line for the refused request:\n" + bridge.LogText);
        Assert.That(warnings[0], Does.Contain($"-> {status}: ").And.Contain(reasonPart));
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task CacheInfoAnnouncesTheStoreDirMassQueryAndPriority()
    {
        var (_, http) = await StartAsync(new NarBridgeOptions { Priority = 17 });
        using var response = await http.GetAsync("nix-cache-info");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/x-nix-cache-info"));
        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 17\n"));
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task ItServesOnAUnixSocketAndRemovesItOnStop()
    {
        string directory = Path.Combine(Path.GetTempPath(), "tvixlowfs-narbridge-sock-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            string socket = Path.Combine(directory, "bridge.sock");
            var bridge = await InProcessNarBridge.StartAsync(new NarBridgeOptions(), listen: "unix://" + socket);
            Assert.That(bridge.BaseUrl, Is.EqualTo("unix://" + socket));
            var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var connection = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                    await connection.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socket), cancellationToken);
                    return new System.Net.Sockets.NetworkStream(connection, ownsSocket: true);
                },
            };
            using (var http = new HttpClient(handler) { BaseAddress = new Uri("http://localhost/") })
                Assert.That(await http.GetStringAsync("nix-cache-info"), Does.StartWith("StoreDir: /nix/store\n"));
            await bridge.DisposeAsync();
            Assert.That(File.Exists(socket), Is.False, "the socket is removed on stop");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    [CancelAfter(120_000)]
    public async Task PushedPathsAreServedAsNarInfosAndRenderedNars()
    {
        var (bridge, http) = await StartAsync();
        await PushAllAsync(http);
        Assert.That(await RegisteredCountAsync(bridge), Is.EqualTo(3));
        foreach (string basename in _nix.AllBasenames)
        {
            using var response = await http.GetAsync(NarInfoUrl(basename));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/x-nix-narinfo"));
            byte[] text = await response.Content.ReadAsByteArrayAsync();
            NarInfo served = NarInfo.Parse(text, StorePath.ParseBasename(basename).Hash);
            NarInfoLines pushed = FixtureNarInfo(basename);
            Assert.That(NixBase32.Encode(served.NarHash), Is.EqualTo(pushed.NarHashBase32));
            Assert.That((long)served.NarSize, Is.EqualTo(pushed.NarSize));
            Assert.That(served.References.Select(r => r.Basename), Is.EqualTo(pushed.References));
            Assert.That(served.Compression, Is.EqualTo("none"));
            Assert.That(served.FileHash, Is.EqualTo(served.NarHash));
            Assert.That(served.FileSize, Is.EqualTo(served.NarSize));
            Assert.That(served.Deriver?.Basename, Is.EqualTo(pushed.All("Deriver").SingleOrDefault()));
            Assert.That(served.ContentAddress, Is.EqualTo(pushed.All("CA").SingleOrDefault()));
            // The signatures pushed are kept, and the server adds one of its own that verifies.
            foreach (string signature in pushed.All("Sig"))
                Assert.That(served.Signatures.Select(s => s.ToString()), Does.Contain(signature));
            NarSignature ours = served.Signatures.Single(s => s.KeyName == _key.Name);
            Assert.That(_key.PublicKey.Verifies(served.Fingerprint(), ours), Is.True);

            using var nar = await http.GetAsync(served.Url);
            Assert.That(nar.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(nar.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/x-nix-nar"));
            Assert.That(nar.Content.Headers.ContentLength, Is.EqualTo(pushed.NarSize));
            Assert.That(nar.Headers.AcceptRanges, Does.Contain("bytes"));
            byte[] bytes = await nar.Content.ReadAsByteArrayAsync();
            Assert.That(bytes, Is.EqualTo(_nix.RealNix.Dump(_nix.OnDisk(basename))), "the rendered NAR is the one Nix makes of " + basename);

            using var headNarInfo = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, NarInfoUrl(basename)));
            Assert.That(headNarInfo.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(headNarInfo.Content.Headers.ContentLength, Is.EqualTo(text.Length));
            using var headNar = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, served.Url));
            Assert.That(headNar.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(headNar.Content.Headers.ContentLength, Is.EqualTo(pushed.NarSize));
            Assert.That(await headNar.Content.ReadAsByteArrayAsync(), Is.Empty);
        }
        Assert.That(bridge.Warnings, Is.Empty, bridge.LogText);
    }

    private static IEnumerable<string> Compressions => NixBinaryCacheFixture.Compressions;

    /// <summary>Every compression Nix 2.8 writes (gzip named ".nar", told apart by its bytes) is decompressed while it is ingested.</summary>
    [TestCaseSource(nameof(Compressions))]
    [CancelAfter(120_000)]
    public async Task NarsInEveryCompressionNixWritesAreIngested(string compression)
    {
        var (bridge, http) = await StartAsync();
        string cache = _nix.Caches[compression];
        foreach (string basename in new[] { _nix.TreeBasename, _nix.SingleFileBasename, _nix.OutputBasename })
        {
            NarInfoLines lines = _nix.NarInfo(compression, basename);
            byte[] file = File.ReadAllBytes(NixBinaryCacheFixture.NarFile(cache, basename));
            using (var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, lines["URL"])))
                Assert.That(head.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
            using (var nar = await http.PutAsync(lines["URL"], Content(file, NarEndpoint.ContentType)))
                Assert.That(nar.StatusCode, Is.EqualTo(HttpStatusCode.OK), lines["URL"] + ": " + await nar.Content.ReadAsStringAsync());
            using (var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, lines["URL"])))
            {
                Assert.That(head.StatusCode, Is.EqualTo(HttpStatusCode.OK), "HEAD of a NAR received");
                Assert.That(head.Content.Headers.ContentLength, Is.EqualTo(file.Length));
            }
            string text = File.ReadAllText(NixBinaryCacheFixture.NarInfoFile(cache, basename));
            using (var narInfo = await http.PutAsync(NarInfoUrl(basename), Content(Encoding.UTF8.GetBytes(text), NarInfoEndpoint.ContentType)))
                Assert.That(narInfo.StatusCode, Is.EqualTo(HttpStatusCode.OK), await narInfo.Content.ReadAsStringAsync());
            using var served = await http.GetAsync(NarInfoUrl(basename));
            Assert.That(await served.Content.ReadAsStringAsync(), Does.Contain("NarHash: " + lines["NarHash"] + "\n"));
        }
        Assert.That(bridge.Warnings, Is.Empty, bridge.LogText);
        Assert.That(await RegisteredCountAsync(bridge), Is.EqualTo(3));
    }

    [Test]
    [CancelAfter(120_000)]
    public async Task RangesAreAnsweredWithPartialContent()
    {
        var (_, http) = await StartAsync();
        await PushAsync(http, _nix.TreeBasename);
        byte[] whole = _nix.RealNix.Dump(_nix.OnDisk(_nix.TreeBasename));
        string url = BridgeRoute.RenderedNarUrl(StorePath.ParseBasename(_nix.TreeBasename).Hash, NixBase32.Decode(FixtureNarInfo(_nix.TreeBasename).NarHashBase32));
        foreach ((string header, int start, int end) in new[]
        {
            ("bytes=1000-4999", 1000, 5000),
            ("bytes=2000000-", 2000000, whole.Length),
            ("bytes=-10", whole.Length - 10, whole.Length),
            ("bytes=0-0", 0, 1),
            ($"bytes={whole.Length - 3}-{whole.Length + 100}", whole.Length - 3, whole.Length),
        })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.TryAddWithoutValidation("Range", header);
            using var response = await http.SendAsync(request);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.PartialContent), header);
            Assert.That(response.Content.Headers.ContentRange?.ToString(), Is.EqualTo($"bytes {start}-{end - 1}/{whole.Length}"), header);
            Assert.That(await response.Content.ReadAsByteArrayAsync(), Is.EqualTo(whole[start..end]), header);
        }
        using var past = new HttpRequestMessage(HttpMethod.Get, url);
        past.Headers.TryAddWithoutValidation("Range", $"bytes={whole.Length}-");
        using var unsatisfiable = await http.SendAsync(past);
        Assert.That(unsatisfiable.StatusCode, Is.EqualTo(HttpStatusCode.RequestedRangeNotSatisfiable));
        Assert.That(unsatisfiable.Content.Headers.ContentRange?.ToString(), Is.EqualTo($"bytes */{whole.Length}"));
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task WhatTheStoreLacksIs404WithoutAWarning()
    {
        var (bridge, http) = await StartAsync();
        await PushAsync(http, _nix.SingleFileBasename);
        string absentHash = NixBase32.Encode(new byte[20]);
        string present = NixBinaryCacheFixture.HashOf(_nix.SingleFileBasename);
        foreach (string url in new[]
        {
            absentHash + ".narinfo",
            $"nar/{absentHash}-{NixBase32.Encode(new byte[32])}.nar",
            $"nar/{present}-{NixBase32.Encode(new byte[32])}.nar",
            present + ".ls",
            "index.html",
            "nar/" + NixBase32.Encode(new byte[32]) + ".nar.lz4",
            FixtureNarInfo(_nix.SingleFileBasename)["URL"],
        })
        {
            using var response = await http.GetAsync(url);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), url);
        }
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, absentHash + ".narinfo"));
        Assert.That(head.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(bridge.Warnings, Is.Empty, "an absent path is an answer, not a problem:\n" + bridge.LogText);
    }

    [TestCase("/../nix-cache-info", "'..'")]
    [TestCase("/nar/../nix-cache-info", "'..'")]
    [TestCase("/%2e%2e/nix-cache-info", "percent-encoded")]
    [TestCase("/nar/..%2fnix-cache-info", "percent-encoded")]
    [TestCase("/nar%2f..%2fnix-cache-info", "percent-encoded")]
    [TestCase("//nix-cache-info", "empty")]
    [TestCase("/./nix-cache-info", "'.'")]
    [TestCase("/nar\\..\\nix-cache-info", "backslash")]
    [TestCase("/abc.narinfo", "not a store path hash")]
    [TestCase("/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo", "not a store path hash")]
    [TestCase("/nar/0000.nar.xz", "not a SHA-256 hash")]
    [CancelAfter(60_000)]
    public async Task MalformedAndTraversingTargetsAreRefused(string target, string reasonPart)
    {
        var (bridge, _) = await StartAsync();
        foreach (string method in new[] { "GET", "PUT" })
        {
            var response = await RawHttp.SendAsync(new Uri(bridge.BaseUrl), $"{method} {target} HTTP/1.1\r\nContent-Length: 0\r\n");
            Assert.That(response.Status, Is.EqualTo(400), $"{method} {target}: {response.Head}\n{response.Body}");
            Assert.That(response.Body, Does.Contain(reasonPart));
            Assert.That(response.Body.TrimEnd('\n'), Does.Not.Contain('\n'));
        }
        Assert.That(bridge.Warnings.Count(w => w.Contains("-> 400: ", StringComparison.Ordinal) && w.Contains(reasonPart, StringComparison.Ordinal)), Is.EqualTo(2), bridge.LogText);
        Assert.That(await RegisteredCountAsync(bridge), Is.Zero);
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task WithoutWritableEveryPutIs403()
    {
        var (bridge, http) = await StartAsync(new NarBridgeOptions());
        byte[] nar = NarBytes(_nix.SingleFileBasename);
        using (var response = await http.PutAsync(UploadUrl(nar), Content(nar, NarEndpoint.ContentType)))
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), await response.Content.ReadAsStringAsync());
        using (var response = await http.PutAsync(NarInfoUrl(_nix.SingleFileBasename), Content(Encoding.UTF8.GetBytes(NarInfoText(_nix.SingleFileBasename)), NarInfoEndpoint.ContentType)))
            await AssertRefusedAsync(response, bridge, HttpStatusCode.Forbidden, "read-only");
        using (var response = await http.PutAsync("nix-cache-info", Content("StoreDir: /nix/store\n"u8.ToArray(), CacheInfoEndpoint.ContentType)))
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, UploadUrl(nar)));
        Assert.That(head.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(bridge.Host.ReceivedNarCount, Is.Zero);
        Assert.That(await RegisteredCountAsync(bridge), Is.Zero);
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task TheCacheInfoPutAndNarListingsAreAcceptedAndDropped()
    {
        var (bridge, http) = await StartAsync();
        using (var response = await http.PutAsync("nix-cache-info", Content("StoreDir: /nix/store\n"u8.ToArray(), CacheInfoEndpoint.ContentType)))
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        string listing = NixBinaryCacheFixture.HashOf(_nix.SingleFileBasename) + ".ls";
        using (var response = await http.PutAsync(listing, Content("{\"version\":1,\"root\":{\"type\":\"regular\"}}"u8.ToArray(), "application/json")))
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        using (var response = await http.GetAsync(listing))
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        using (var response = await http.GetAsync("nix-cache-info"))
            Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("Priority: 39"));
        Assert.That(await RegisteredCountAsync(bridge), Is.Zero);
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task ANarInfoWithoutItsNarIsRefused()
    {
        var (bridge, http) = await StartAsync();
        using var response = await http.PutAsync(NarInfoUrl(_nix.SingleFileBasename), Content(Encoding.UTF8.GetBytes(NarInfoText(_nix.SingleFileBasename)), NarInfoEndpoint.ContentType));
        await AssertRefusedAsync(response, bridge, HttpStatusCode.BadRequest, "no NAR with NarHash sha256:" + FixtureNarInfo(_nix.SingleFileBasename).NarHashBase32);
        using var get = await http.GetAsync(NarInfoUrl(_nix.SingleFileBasename));
        Assert.That(get.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(await RegisteredCountAsync(bridge), Is.Zero);
    }

    [TestCase("NarSize")]
    [TestCase("NarHash")]
    [CancelAfter(60_000)]
    public async Task ANarInfoWhoseNarHashOrSizeDisagreesIsRefused(string field)
    {
        var (bridge, http) = await StartAsync();
        string basename = _nix.SingleFileBasename;
        byte[] nar = NarBytes(basename);
        using (var put = await http.PutAsync(UploadUrl(nar), Content(nar, NarEndpoint.ContentType)))
            Assert.That(put.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        NarInfoLines lines = FixtureNarInfo(basename);
        string text = NarInfoText(basename);
        text = field == "NarSize"
            ? text.Replace($"NarSize: {lines.NarSize}\n", $"NarSize: {lines.NarSize + 8}\n", StringComparison.Ordinal)
            : text.Replace("NarHash: sha256:" + lines.NarHashBase32, "NarHash: sha256:" + NixBase32.Encode(SHA256.HashData("other"u8)), StringComparison.Ordinal);
        using var response = await http.PutAsync(NarInfoUrl(basename), Content(Encoding.UTF8.GetBytes(text), NarInfoEndpoint.ContentType));
        await AssertRefusedAsync(response, bridge, HttpStatusCode.BadRequest, "no NAR with NarHash");
        Assert.That(await RegisteredCountAsync(bridge), Is.Zero);
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task AMalformedNarInfoIsRefused()
    {
        var (bridge, http) = await StartAsync();
        string basename = _nix.SingleFileBasename;
        byte[] nar = NarBytes(basename);
        using (var put = await http.PutAsync(UploadUrl(nar), Content(nar, NarEndpoint.ContentType)))
            Assert.That(put.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        // Sent under the hash of another store path.
        using (var response = await http.PutAsync(NarInfoUrl(_nix.TreeBasename), Content(Encoding.UTF8.GetBytes(NarInfoText(basename)), NarInfoEndpoint.ContentType)))
            await AssertRefusedAsync(response, bridge, HttpStatusCode.BadRequest, "another hash than the one asked for");
        string badReference = NarInfoText(basename).Replace("References: \n", "References: not-a-store-path\n", StringComparison.Ordinal);
        using (var response = await http.PutAsync(NarInfoUrl(basename), Content(Encoding.UTF8.GetBytes(badReference), NarInfoEndpoint.ContentType)))
            await AssertRefusedAsync(response, bridge, HttpStatusCode.BadRequest, "References");
        Assert.That(await RegisteredCountAsync(bridge), Is.Zero);
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task ANarInfoWhoseReferenceIsNotInTheStoreIsRefused()
    {
        var (bridge, http) = await StartAsync();
        string basename = _nix.OutputBasename;
        byte[] nar = NarBytes(basename);
        using (var put = await http.PutAsync(FixtureNarInfo(basename)["URL"], Content(nar, NarEndpoint.ContentType)))
            Assert.That(put.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        using var response = await http.PutAsync(NarInfoUrl(basename), Content(Encoding.UTF8.GetBytes(NarInfoText(basename)), NarInfoEndpoint.ContentType));
        await AssertRefusedAsync(response, bridge, HttpStatusCode.BadRequest, $"reference {_nix.TreeBasename} is not in this store");
        Assert.That(await RegisteredCountAsync(bridge), Is.Zero);
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task AnInvalidNarIsRefused()
    {
        var (bridge, http) = await StartAsync();
        byte[] valid = NarBytes(_nix.SingleFileBasename);
        byte[] corrupt = [.. valid];
        // "regular" -> "regulax": the archive is malformed from the node type on.
        int at = Encoding.ASCII.GetString(corrupt).IndexOf("regular", StringComparison.Ordinal);
        corrupt[at + 6] = (byte)'x';
        byte[] truncated = valid[..(valid.Length - 16)];
        byte[] trailing = [.. valid, .. "more"u8.ToArray()];
        byte[] notANar = "this is not a NAR at all, nor compressed\n"u8.ToArray();
        foreach ((byte[] body, string reason) in new[] { (corrupt, "not a valid NAR"), (truncated, "not a valid NAR"), (trailing, "not a valid NAR"), (notANar, "unsupported compression") })
        {
            using var response = await http.PutAsync(UploadUrl(body), Content(body, NarEndpoint.ContentType));
            string text = await response.Content.ReadAsStringAsync();
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), text);
            Assert.That(text, Does.Contain(reason));
            using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, UploadUrl(body)));
            Assert.That(head.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }
        // An xz name over bytes that are not xz.
        string xzUrl = "nar/" + NixBase32.Encode(SHA256.HashData(valid)) + ".nar.xz";
        using (var response = await http.PutAsync(xzUrl, Content(valid, NarEndpoint.ContentType)))
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), await response.Content.ReadAsStringAsync());
        Assert.That(bridge.Warnings.Count(w => w.Contains("-> 400: ", StringComparison.Ordinal)), Is.EqualTo(5), bridge.LogText);
        Assert.That(bridge.Host.ReceivedNarCount, Is.Zero);
        Assert.That(await RegisteredCountAsync(bridge), Is.Zero);
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task ANarWhoseBodyHashDisagreesWithItsUrlIsRefused()
    {
        var (bridge, http) = await StartAsync();
        byte[] nar = NarBytes(_nix.SingleFileBasename);
        string wrongUrl = "nar/" + NixBase32.Encode(SHA256.HashData("other"u8)) + ".nar";
        using var response = await http.PutAsync(wrongUrl, Content(nar, NarEndpoint.ContentType));
        await AssertRefusedAsync(response, bridge, HttpStatusCode.BadRequest, "its URL names sha256:");
        foreach (string url in new[] { wrongUrl, UploadUrl(nar) })
        {
            using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, url));
            Assert.That(head.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }
        // And the narinfo that would name it finds nothing.
        using var narInfo = await http.PutAsync(NarInfoUrl(_nix.SingleFileBasename), Content(Encoding.UTF8.GetBytes(NarInfoText(_nix.SingleFileBasename)), NarInfoEndpoint.ContentType));
        Assert.That(narInfo.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(await RegisteredCountAsync(bridge), Is.Zero);
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task AnUploadOverTheBoundIs413()
    {
        var (bridge, http) = await StartAsync(new NarBridgeOptions { Writable = true, MaxUploadBytes = 64 * 1024 });
        byte[] nar = NarBytes(_nix.TreeBasename);
        Assert.That(nar.Length, Is.GreaterThan(64 * 1024));
        using (var response = await http.PutAsync(UploadUrl(nar), Content(nar, NarEndpoint.ContentType)))
            await AssertRefusedAsync(response, bridge, HttpStatusCode.RequestEntityTooLarge, "larger than the 65536 bytes");
        // Without a Content-Length (chunked), the bound is found while reading.
        var chunked = new StreamContent(new MemoryStream(nar));
        chunked.Headers.ContentType = MediaTypeHeaderValue.Parse(NarEndpoint.ContentType);
        using var request = new HttpRequestMessage(HttpMethod.Put, UploadUrl(nar)) { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        HttpResponseMessage? streamed = null;
        try
        {
            streamed = await http.SendAsync(request);
        }
        catch (HttpRequestException)
        {
            // The server may close the connection while the body is still being sent; the log says why.
        }
        if (streamed is not null)
            Assert.That(streamed.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        streamed?.Dispose();
        Assert.That(bridge.Warnings.Count(w => w.Contains("-> 413: ", StringComparison.Ordinal)), Is.EqualTo(2), bridge.LogText);
        Assert.That(bridge.Host.ReceivedNarCount, Is.Zero);
        Assert.That(await RegisteredCountAsync(bridge), Is.Zero);
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task AStalledUploadIsTimedOut()
    {
        var (bridge, _) = await StartAsync(new NarBridgeOptions { Writable = true, UploadStallTimeout = TimeSpan.FromSeconds(1) });
        byte[] nar = NarBytes(_nix.TreeBasename);
        // Headers and a tenth of the body, then nothing (the socket stays open).
        var response = await RawHttp.SendAsync(new Uri(bridge.BaseUrl),
            $"PUT /{UploadUrl(nar)} HTTP/1.1\r\nContent-Type: application/x-nix-nar\r\nContent-Length: {nar.Length}\r\n", nar[..(nar.Length / 10)]);
        Assert.That(response.Status, Is.EqualTo(408), response.Head + "\n" + response.Body);
        Assert.That(response.Body, Does.Contain("the upload stalled"));
        AssertWarned(bridge, 408, "the upload stalled");
        Assert.That(bridge.Host.ReceivedNarCount, Is.Zero);
        Assert.That(await RegisteredCountAsync(bridge), Is.Zero);
    }

    [Test]
    [CancelAfter(90_000)]
    public async Task ConcurrentUploadsOfOneNarIngestItOnce()
    {
        var (bridge, http) = await StartAsync();
        byte[] nar = NarBytes(_nix.TreeBasename);
        string url = UploadUrl(nar);
        var first = new GatedStream(nar, nar.Length / 2);
        var firstContent = new StreamContent(first);
        firstContent.Headers.ContentLength = nar.Length;
        Task<HttpResponseMessage> firstPut = http.PutAsync(url, firstContent);
        await first.HalfSent.WaitAsync(TimeSpan.FromSeconds(30));
        Task<HttpResponseMessage> secondPut = http.PutAsync(url, Content(nar, NarEndpoint.ContentType));
        // The second waits for the first (it says so) before the first may finish.
        for (int i = 0; i < 300 && !bridge.Lines.Any(l => l.Message.Contains("waiting for the upload of it in progress", StringComparison.Ordinal)); i++)
            await Task.Delay(100);
        Assert.That(bridge.Lines.Any(l => l.Message.Contains("waiting for the upload of it in progress", StringComparison.Ordinal)), Is.True, bridge.LogText);
        first.Open();
        using var firstResponse = await firstPut;
        using var secondResponse = await secondPut;
        Assert.That(firstResponse.StatusCode, Is.EqualTo(HttpStatusCode.OK), await firstResponse.Content.ReadAsStringAsync());
        Assert.That(secondResponse.StatusCode, Is.EqualTo(HttpStatusCode.OK), await secondResponse.Content.ReadAsStringAsync());
        Assert.That(bridge.Lines.Count(l => l.Message.StartsWith("received NAR sha256:", StringComparison.Ordinal)), Is.EqualTo(1), "ingested once:\n" + bridge.LogText);
        Assert.That(bridge.Lines.Count(l => l.Message.Contains("was received already", StringComparison.Ordinal)), Is.EqualTo(1), bridge.LogText);
        Assert.That(bridge.Host.ReceivedNarCount, Is.EqualTo(1));
        // And the narinfo registers it as usual.
        using var narInfo = await http.PutAsync(NarInfoUrl(_nix.TreeBasename), Content(Encoding.UTF8.GetBytes(NarInfoText(_nix.TreeBasename)), NarInfoEndpoint.ContentType));
        Assert.That(narInfo.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task ANarInfoForAPathHeldWithOtherContentIs409()
    {
        var (bridge, http) = await StartAsync();
        string basename = _nix.SingleFileBasename;
        await PushAsync(http, basename);
        // The same narinfo again changes nothing and is fine (Nix may retry).
        using (var again = await http.PutAsync(NarInfoUrl(basename), Content(Encoding.UTF8.GetBytes(NarInfoText(basename)), NarInfoEndpoint.ContentType)))
            Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        // The tree's NAR under the single file's store path.
        byte[] other = NarBytes(_nix.TreeBasename);
        using (var put = await http.PutAsync(UploadUrl(other), Content(other, NarEndpoint.ContentType)))
            Assert.That(put.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        NarInfoLines mine = FixtureNarInfo(basename), theirs = FixtureNarInfo(_nix.TreeBasename);
        string forged = NarInfoText(basename)
            .Replace(mine["NarHash"], theirs["NarHash"], StringComparison.Ordinal)
            .Replace($"NarSize: {mine.NarSize}\n", $"NarSize: {theirs.NarSize}\n", StringComparison.Ordinal);
        forged = string.Join('\n', forged.Split('\n').Where(l => !l.StartsWith("CA: ", StringComparison.Ordinal) && !l.StartsWith("Sig: ", StringComparison.Ordinal)));
        using var response = await http.PutAsync(NarInfoUrl(basename), Content(Encoding.UTF8.GetBytes(forged), NarInfoEndpoint.ContentType));
        await AssertRefusedAsync(response, bridge, HttpStatusCode.Conflict, "already registered with other contents");
        using var served = await http.GetAsync(NarInfoUrl(basename));
        Assert.That(await served.Content.ReadAsStringAsync(), Does.Contain(mine["NarHash"]), "the registered path is unchanged");
        Assert.That(await RegisteredCountAsync(bridge), Is.EqualTo(1));
    }

    /// <summary>A request body that sends its first <c>gate</c> bytes, then waits for <see cref="Open"/>.</summary>
    private sealed class GatedStream(byte[] bytes, int gate) : Stream
    {
        private readonly TaskCompletionSource _halfSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _position;

        public Task HalfSent => _halfSent.Task;

        public void Open() => _open.TrySetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position >= gate)
            {
                _halfSent.TrySetResult();
                await _open.Task.WaitAsync(cancellationToken);
            }
            int limit = _position < gate ? gate : bytes.Length;
            int n = Math.Min(buffer.Length, limit - _position);
            bytes.AsSpan(_position, n).CopyTo(buffer.Span);
            _position += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => bytes.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
