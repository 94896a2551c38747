using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using NUnit.Framework;
using TvixLowFs.Store.BinaryCache;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.BinaryCache.Http;

/// <summary>
/// BinaryCacheHttpClient against <see cref="HostileHttpServer"/>, a test double for the failures
/// no real static server produces on demand: 5xx (once, forever), resets and stalls mid-body,
/// servers that ignore Range, redirect loops and chains, oversized bodies, 403/410, refused
/// connections. Short StallTimeout and retry delays keep every case within seconds.
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class HostileServerTests
{
    private static readonly byte[] NarFile = MakeFile(300_000);

    private static byte[] MakeFile(int length)
    {
        byte[] bytes = new byte[length];
        new Random(3).NextBytes(bytes);
        return bytes;
    }

    private static BinaryCacheHttpOptions Options(int maxAttempts = 4, double stallSeconds = 5, int maxRedirects = 8) => new()
    {
        MaxAttempts = maxAttempts,
        StallTimeout = TimeSpan.FromSeconds(stallSeconds),
        MaxRedirects = maxRedirects,
        RetryDelay = TimeSpan.FromMilliseconds(20),
        MaxRetryDelay = TimeSpan.FromMilliseconds(100),
    };

    private static CancellationToken Cancel => TestContext.CurrentContext.CancellationToken;

    private static async Task<byte[]> ReadAllAsync(Stream stream, int bufferSize = 16 * 1024)
    {
        var output = new MemoryStream();
        byte[] buffer = new byte[bufferSize];
        int n;
        while ((n = await stream.ReadAsync(buffer, Cancel)) > 0)
        {
            output.Write(buffer, 0, n);
            if (output.Length > 16 << 20) Assert.Fail("more than 16 MiB");
        }
        return output.ToArray();
    }

    /// <summary>
    /// A server whose first response is cut after 1000 bytes of the NAR (connection closed); every
    /// later request, the resumption, gets <paramref name="resumed"/>.
    /// </summary>
    private static HostileHttpServer CutOnceThen(Func<HostileConnection, Task> resumed)
    {
        int calls = 0;
        return new HostileHttpServer(async (request, connection) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                await connection.WriteHeadAsync(200, NarFile.Length);
                await connection.WriteAsync(NarFile.AsMemory(0, 1000));
                connection.Close();
                return;
            }
            await resumed(connection);
        });
    }

    [Test]
    public async Task A500ThenA200IsRetriedAndSucceeds()
    {
        int calls = 0;
        await using var server = new HostileHttpServer(async (request, connection) =>
        {
            if (Interlocked.Increment(ref calls) == 1) await connection.RespondAsync(500, "broken"u8.ToArray());
            else await connection.RespondAsync(200, "StoreDir: /nix/store\n"u8.ToArray());
        });
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        byte[]? body = await client.GetSmallAsync("nix-cache-info", 1024, Cancel);
        Assert.Multiple(() =>
        {
            Assert.That(body, Is.EqualTo("StoreDir: /nix/store\n"u8.ToArray()));
            Assert.That(server.Requests, Has.Count.EqualTo(2));
            Assert.That(client.RequestCount, Is.EqualTo(2));
            Assert.That(server.Requests[0].Path, Is.EqualTo("/nix-cache-info"));
            // HTTP/1.1 over plain http: no h2c attempt, and no Accept-Encoding (as Nix).
            Assert.That(server.Requests[0].Version, Is.EqualTo("HTTP/1.1"));
            Assert.That(server.Requests[0].Header("accept-encoding"), Is.Null);
        });
    }

    [Test]
    public async Task A500ForeverFailsAfterMaxAttemptsNamingTheStatus()
    {
        await using var server = new HostileHttpServer((request, connection) => connection.RespondAsync(500, "broken"u8.ToArray()));
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options(maxAttempts: 3));
        var failure = await Assert.ThrowsAsync<StoreUnavailableException>(() => client.GetSmallAsync("x.narinfo", 1024, Cancel));
        Assert.Multiple(() =>
        {
            Assert.That(failure!.Message, Does.Contain("HTTP 500").And.Contain(server.BaseUri + "x.narinfo").And.Contain("3 attempts"));
            Assert.That(server.Requests, Has.Count.EqualTo(3));
        });
        var openFailure = await Assert.ThrowsAsync<StoreUnavailableException>(() => client.OpenReadAsync("nar/x.nar", Cancel));
        Assert.That(openFailure!.Message, Does.Contain("HTTP 500"));
    }

    [Test]
    public async Task A404IsNotRetried()
    {
        await using var server = new HostileHttpServer((request, connection) => connection.RespondAsync(404, "no"u8.ToArray()));
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        Assert.That(await client.GetSmallAsync("x.narinfo", 1024, Cancel), Is.Null);
        Assert.That(server.Requests, Has.Count.EqualTo(1));
    }

    [TestCase(403)]
    [TestCase(410)]
    [TestCase(404)]
    public async Task ForbiddenAndGoneAreAbsent(int status)
    {
        await using var server = new HostileHttpServer((request, connection) => connection.RespondAsync(status, "no"u8.ToArray()));
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        Assert.That(await client.GetSmallAsync("x.narinfo", 1024, Cancel), Is.Null);
        var failure = await Assert.ThrowsAsync<StoreNotFoundException>(() => client.OpenReadAsync("nar/x.nar.xz", Cancel));
        Assert.That(failure!.Message, Does.Contain(server.BaseUri + "nar/x.nar.xz").And.Contain(status.ToString()));
    }

    [Test]
    public async Task OtherClientErrorsFailWithoutRetrying()
    {
        await using var server = new HostileHttpServer((request, connection) => connection.RespondAsync(401, "who"u8.ToArray()));
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        var failure = await Assert.ThrowsAsync<StoreUnavailableException>(() => client.GetSmallAsync("x.narinfo", 1024, Cancel));
        Assert.That(failure!.Message, Does.Contain("HTTP 401"));
        Assert.That(server.Requests, Has.Count.EqualTo(1));
    }

    /// <summary>
    /// The server sends part of the body, then resets the connection once the client has read that
    /// part; the client asks for the rest with Range and delivers every byte exactly once.
    /// </summary>
    [Test]
    public async Task AResetMidBodyResumesWithRange()
    {
        const int sentBeforeReset = 100_000;
        var firstPartRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new HostileHttpServer(async (request, connection) =>
        {
            if (request.Header("range") is not { } range)
            {
                await connection.WriteHeadAsync(200, NarFile.Length, ("Accept-Ranges", "bytes"));
                await connection.WriteAsync(NarFile.AsMemory(0, sentBeforeReset));
                await firstPartRead.Task.WaitAsync(connection.Stopping);
                connection.Reset();
                return;
            }
            long from = long.Parse(range["bytes=".Length..^1]);
            await connection.RespondAsync(206, NarFile.AsMemory((int)from),
                ("Content-Range", $"bytes {from}-{NarFile.Length - 1}/{NarFile.Length}"), ("Accept-Ranges", "bytes"));
        });
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        await using Stream stream = await client.OpenReadAsync("nar/abc.nar", Cancel);
        byte[] first = new byte[sentBeforeReset];
        await stream.ReadExactlyAsync(first, Cancel);
        firstPartRead.SetResult();
        byte[] rest = await ReadAllAsync(stream);
        Assert.Multiple(() =>
        {
            Assert.That((byte[])[.. first, .. rest], Is.EqualTo(NarFile));
            Assert.That(server.Requests, Has.Count.EqualTo(2));
            Assert.That(server.Requests[1].Header("range"), Is.EqualTo($"bytes={sentBeforeReset}-"));
            Assert.That(client.BytesReceived, Is.EqualTo(NarFile.Length));
        });
    }

    /// <summary>A body cut short with a normal close (fewer bytes than Content-Length) is resumed the same way.</summary>
    [Test]
    public async Task ABodyEndingEarlyResumesWithRange()
    {
        await using var server = new HostileHttpServer(async (request, connection) =>
        {
            if (request.Header("range") is not { } range)
            {
                await connection.WriteHeadAsync(200, NarFile.Length, ("Accept-Ranges", "bytes"));
                await connection.WriteAsync(NarFile.AsMemory(0, 1000));
                connection.Close();
                return;
            }
            long from = long.Parse(range["bytes=".Length..^1]);
            await connection.RespondAsync(206, NarFile.AsMemory((int)from), ("Content-Range", $"bytes {from}-{NarFile.Length - 1}/{NarFile.Length}"));
        });
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        await using Stream stream = await client.OpenReadAsync("nar/abc.nar", Cancel);
        Assert.That(await ReadAllAsync(stream), Is.EqualTo(NarFile));
        Assert.That(server.Requests[1].Header("range"), Does.Match(@"^bytes=\d+-$"));
    }

    /// <summary>
    /// A server that ignores Range answers 200 with the whole file again: the client skips what it
    /// delivered already and goes on (the choice made: restart correctly rather than fail).
    /// </summary>
    [Test]
    public async Task AServerIgnoringRangeIsRestartedFromZeroCorrectly()
    {
        const int sentBeforeReset = 120_000;
        var firstPartRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;
        await using var server = new HostileHttpServer(async (request, connection) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                await connection.WriteHeadAsync(200, NarFile.Length);
                await connection.WriteAsync(NarFile.AsMemory(0, sentBeforeReset));
                await firstPartRead.Task.WaitAsync(connection.Stopping);
                connection.Reset();
                return;
            }
            await connection.RespondAsync(200, NarFile);
        });
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        await using Stream stream = await client.OpenReadAsync("nar/abc.nar", Cancel);
        byte[] first = new byte[sentBeforeReset];
        await stream.ReadExactlyAsync(first, Cancel);
        firstPartRead.SetResult();
        byte[] rest = await ReadAllAsync(stream);
        Assert.Multiple(() =>
        {
            Assert.That((byte[])[.. first, .. rest], Is.EqualTo(NarFile));
            Assert.That(server.Requests, Has.Count.EqualTo(2));
            Assert.That(server.Requests[1].Header("range"), Is.EqualTo($"bytes={sentBeforeReset}-"), "Range is tried even without Accept-Ranges");
            Assert.That(client.BytesReceived, Is.EqualTo(sentBeforeReset + NarFile.Length));
        });
    }

    /// <summary>The whole file sent again with another length is another file: that fails, naming it.</summary>
    [Test]
    public async Task AServerSendingAnotherFileOnResumeFails()
    {
        await using var server = CutOnceThen(connection => connection.RespondAsync(200, NarFile.AsMemory(0, NarFile.Length - 8)));
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        await using Stream stream = await client.OpenReadAsync("nar/abc.nar", Cancel);
        var failure = await Assert.ThrowsAsync<StoreUnavailableException>(() => ReadAllAsync(stream));
        Assert.That(failure!.Message, Does.Contain("changed length"));
    }

    /// <summary>A 206 for another range than asked is refused, not spliced in.</summary>
    [Test]
    public async Task AWrongContentRangeFails()
    {
        await using var server = CutOnceThen(connection => connection.RespondAsync(206, NarFile.AsMemory(10), ("Content-Range", $"bytes 10-{NarFile.Length - 1}/{NarFile.Length}")));
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        await using Stream stream = await client.OpenReadAsync("nar/abc.nar", Cancel);
        var failure = await Assert.ThrowsAsync<StoreUnavailableException>(() => ReadAllAsync(stream));
        Assert.That(failure!.Message, Does.Contain("bytes 10-"));
    }

    /// <summary>Resets with no progress at all, every time: MaxAttempts bounds it.</summary>
    [Test]
    public async Task ResetsForeverFailAfterMaxAttempts()
    {
        int calls = 0;
        await using var server = new HostileHttpServer(async (request, connection) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                await connection.WriteHeadAsync(200, NarFile.Length);
                await connection.WriteAsync(NarFile.AsMemory(0, 1000));
            }
            connection.Reset();
        });
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options(maxAttempts: 3));
        await using Stream stream = await client.OpenReadAsync("nar/abc.nar", Cancel);
        var failure = await Assert.ThrowsAsync<StoreUnavailableException>(() => ReadAllAsync(stream));
        Assert.That(failure!.Message, Does.Contain("3 attempts").And.Contain("nar/abc.nar"));
        Assert.That(server.Requests.Count, Is.InRange(3, 4));
    }

    [Test]
    public async Task AStallMidBodyFailsWithinTheStallTimeout()
    {
        await using var server = new HostileHttpServer(async (request, connection) =>
        {
            await connection.WriteHeadAsync(200, NarFile.Length);
            await connection.WriteAsync(NarFile.AsMemory(0, 1000));
            await connection.StallAsync();
        });
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options(maxAttempts: 2, stallSeconds: 0.5));
        await using Stream stream = await client.OpenReadAsync("nar/abc.nar", Cancel);
        var clock = Stopwatch.StartNew();
        var failure = await Assert.ThrowsAsync<StoreUnavailableException>(() => ReadAllAsync(stream));
        clock.Stop();
        Assert.Multiple(() =>
        {
            Assert.That(failure!.Message, Does.Contain("stalled for 0.5 s"));
            // Two attempts of 0.5 s each, a short backoff, and a margin for a loaded machine.
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(4)));
            Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(0.9)));
        });
    }

    [Test]
    public async Task AServerThatNeverAnswersFailsWithinTheStallTimeout()
    {
        await using var server = new HostileHttpServer((request, connection) => connection.StallAsync());
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options(maxAttempts: 2, stallSeconds: 0.5));
        var clock = Stopwatch.StartNew();
        var failure = await Assert.ThrowsAsync<StoreUnavailableException>(() => client.GetSmallAsync("x.narinfo", 1024, Cancel));
        Assert.That(failure!.Message, Does.Contain("stalled for 0.5 s").And.Contain("x.narinfo"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(4)));
    }

    /// <summary>A slow consumer is no stalled server: the stall timer runs only while a read waits.</summary>
    [Test]
    public async Task ASlowReaderIsNoStall()
    {
        await using var server = new HostileHttpServer((request, connection) => connection.RespondAsync(200, NarFile));
        // One attempt: a stall wrongly seen while the reader pauses would fail the read.
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options(maxAttempts: 1, stallSeconds: 0.5));
        await using Stream stream = await client.OpenReadAsync("nar/abc.nar", Cancel);
        byte[] first = new byte[1000];
        await stream.ReadExactlyAsync(first, Cancel);
        await Task.Delay(TimeSpan.FromSeconds(1.5), Cancel);
        byte[] rest = await ReadAllAsync(stream);
        Assert.That((byte[])[.. first, .. rest], Is.EqualTo(NarFile));
        Assert.That(server.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task ARedirectLoopFailsNamingTooManyRedirects()
    {
        await using var server = new HostileHttpServer((request, connection) =>
            connection.RespondAsync(302, ReadOnlyMemory<byte>.Empty, ("Location", request.Path == "/a.narinfo" ? "/b.narinfo" : "/a.narinfo")));
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options(maxRedirects: 5));
        var failure = await Assert.ThrowsAsync<StoreUnavailableException>(() => client.GetSmallAsync("a.narinfo", 1024, Cancel));
        Assert.Multiple(() =>
        {
            Assert.That(failure!.Message, Does.Contain("too many redirects").And.Contain("a.narinfo"));
            // The first request and five redirects followed; not retried.
            Assert.That(server.Requests, Has.Count.EqualTo(6));
        });
        await Assert.ThrowsAsync<StoreUnavailableException>(() => client.OpenReadAsync("a.narinfo", Cancel));
    }

    [Test]
    public async Task ARedirectChainWithinTheBoundIsFollowed()
    {
        await using var server = new HostileHttpServer(async (request, connection) =>
        {
            switch (request.Path)
            {
                case "/nar/x.nar": await connection.RespondAsync(301, ReadOnlyMemory<byte>.Empty, ("Location", "/hop1")); break;
                case "/hop1": await connection.RespondAsync(302, ReadOnlyMemory<byte>.Empty, ("Location", "/hop2")); break;
                case "/hop2": await connection.RespondAsync(307, ReadOnlyMemory<byte>.Empty, ("Location", server2Location)); break;
                default: await connection.RespondAsync(200, NarFile); break;
            }
        });
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options(maxRedirects: 3));
        await using Stream stream = await client.OpenReadAsync("nar/x.nar", Cancel);
        Assert.That(await ReadAllAsync(stream), Is.EqualTo(NarFile));
        Assert.That(server.Requests.Select(r => r.Path), Is.EqualTo(new[] { "/nar/x.nar", "/hop1", "/hop2", "/final/x.nar" }));
    }

    private const string server2Location = "/final/x.nar";

    [Test]
    public async Task AnOversizedBodyFails()
    {
        byte[] big = new byte[5000];
        await using var server = new HostileHttpServer(async (request, connection) =>
        {
            if (request.Path == "/declared.narinfo") await connection.RespondAsync(200, big);
            else
            {
                // No Content-Length: chunked, so only the bytes show the size.
                await connection.WriteHeadAsync(200, null, ("Transfer-Encoding", "chunked"));
                for (int i = 0; i < 5; i++) await connection.WriteAsync(Encoding.ASCII.GetBytes("3e8\r\n" + new string('a', 1000) + "\r\n"));
                await connection.WriteAsync("0\r\n\r\n"u8.ToArray());
            }
        });
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        var declared = await Assert.ThrowsAsync<StoreUnavailableException>(() => client.GetSmallAsync("declared.narinfo", 4096, Cancel));
        var streamed = await Assert.ThrowsAsync<StoreUnavailableException>(() => client.GetSmallAsync("chunked.narinfo", 4096, Cancel));
        Assert.Multiple(() =>
        {
            Assert.That(declared!.Message, Does.Contain("larger than the 4096 bytes").And.Contain("declared.narinfo"));
            Assert.That(streamed!.Message, Does.Contain("larger than the 4096 bytes").And.Contain("chunked.narinfo"));
            Assert.That(server.Requests, Has.Count.EqualTo(2), "not retried");
        });
        Assert.That(await client.GetSmallAsync("chunked.narinfo", 5000, Cancel), Has.Length.EqualTo(5000), "exactly the limit is allowed");
    }

    [Test]
    public async Task ConnectionsAreReused()
    {
        await using var server = new HostileHttpServer((request, connection) => connection.RespondAsync(200, Encoding.ASCII.GetBytes(request.Path)));
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        for (int i = 0; i < 5; i++)
            Assert.That(await client.GetSmallAsync($"{i}.narinfo", 1024, Cancel), Is.EqualTo(Encoding.ASCII.GetBytes($"/{i}.narinfo")));
        await using (Stream stream = await client.OpenReadAsync("nar/x.nar", Cancel)) await ReadAllAsync(stream);
        Assert.That(server.Requests, Has.Count.EqualTo(6));
        Assert.That(server.Accepts, Is.EqualTo(1), "six requests over one TCP connection");
    }

    [Test]
    public async Task AServerEncodedBodyIsDecoded()
    {
        byte[] narInfo = "StorePath: /nix/store/x\n"u8.ToArray();
        byte[] gzipped = ExternalTool.Compress("gzip", narInfo);
        await using var server = new HostileHttpServer((request, connection) => connection.RespondAsync(200, gzipped, ("Content-Encoding", "gzip")));
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options());
        Assert.That(await client.GetSmallAsync("x.narinfo", 1024, Cancel), Is.EqualTo(narInfo));
        await using Stream stream = await client.OpenReadAsync("x.narinfo", Cancel);
        Assert.That(await ReadAllAsync(stream), Is.EqualTo(narInfo));
    }

    [Test]
    public async Task ARefusedConnectionFailsNamingIt()
    {
        // A port that was just free: nothing listens there.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var client = new BinaryCacheHttpClient(new Uri($"http://127.0.0.1:{port}/"), Options(maxAttempts: 2));
        var failure = await Assert.ThrowsAsync<StoreUnavailableException>(() => client.GetSmallAsync("x.narinfo", 1024, Cancel));
        Assert.That(failure!.Message, Does.Contain("connection refused").And.Contain("2 attempts"));
    }

    [Test]
    public async Task TheCallersCancellationIsNoFailure()
    {
        await using var server = new HostileHttpServer((request, connection) => connection.StallAsync());
        using var client = new BinaryCacheHttpClient(server.BaseUri, Options(stallSeconds: 20));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThatAsync(async () => await client.GetSmallAsync("x.narinfo", 1024, cancel.Token), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(server.Requests, Has.Count.EqualTo(1), "not retried");
    }
}
