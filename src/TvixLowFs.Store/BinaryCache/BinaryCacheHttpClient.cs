using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// HTTP for one Nix binary cache, as Nix's own client (curl) behaves: one pooled
/// <see cref="SocketsHttpHandler"/> (connections reused, HTTP/2 negotiated by ALPN over https,
/// HTTP/1.1 over plain http, redirects followed up to a bound, the system trust store), no
/// Accept-Encoding (a body the server still encodes is decoded), 404/403/410 meaning absent,
/// transient failures retried with exponential backoff and jitter (Polly), a stall timeout on
/// every wait for bytes, and broken downloads resumed with <c>Range</c>. Thread-safe.
/// </summary>
public sealed partial class BinaryCacheHttpClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private long _bytesReceived;
    private long _requestCount;

    public BinaryCacheHttpClient(Uri baseUri, BinaryCacheHttpOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(baseUri);
        ArgumentNullException.ThrowIfNull(options);
        if (!baseUri.IsAbsoluteUri || (baseUri.Scheme != Uri.UriSchemeHttp && baseUri.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"a binary cache URL must be http:// or https://, not {baseUri}", nameof(baseUri));
        if (baseUri.Query.Length > 0 || baseUri.Fragment.Length > 0)
            throw new ArgumentException($"a binary cache URL has no query or fragment: {baseUri}", nameof(baseUri));
        if (options.MaxAttempts < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxAttempts must be at least 1");
        if (options.MaxRedirects < 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxRedirects must not be negative");
        if (options.StallTimeout <= TimeSpan.Zero || options.ConnectTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(options), "StallTimeout and ConnectTimeout must be positive");

        BaseUri = baseUri.AbsolutePath.EndsWith('/') ? baseUri : new Uri(baseUri.AbsoluteUri + "/");
        Options = options;
        _logger = logger ?? NullLogger.Instance;
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = options.PooledConnectionLifetime,
            ConnectTimeout = options.ConnectTimeout,
            // Nix sends no Accept-Encoding; a server that encodes anyway is decoded by Decode below.
            AutomaticDecompression = DecompressionMethods.None,
            AllowAutoRedirect = options.MaxRedirects > 0,
            MaxAutomaticRedirections = Math.Max(1, options.MaxRedirects),
            UseCookies = false,
            // Parallel NAR downloads over HTTP/2 are not capped by one connection's stream limit.
            EnableMultipleHttp2Connections = true,
        };
        _http = new HttpClient(handler)
        {
            // Each wait has its own bound (ConnectTimeout, StallTimeout); a whole NAR may take long.
            Timeout = Timeout.InfiniteTimeSpan,
            // h2 when TLS's ALPN offers it; HTTP/1.1 otherwise, and always over plain http (no h2c).
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("tvixlowfs", "1"));

        var builder = new ResiliencePipelineBuilder();
        if (options.MaxAttempts > 1)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = static arguments => ValueTask.FromResult(arguments.Outcome.Exception is TransientHttpException),
                MaxRetryAttempts = options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryDelay,
                MaxDelay = options.MaxRetryDelay,
                DelayGenerator = arguments => ValueTask.FromResult(
                    arguments.Outcome.Exception is TransientHttpException { RetryAfter: { } after }
                        ? (TimeSpan?)(after < options.MaxRetryDelay ? after : options.MaxRetryDelay)
                        : null),
                OnRetry = arguments =>
                {
                    if (arguments.Outcome.Exception is TransientHttpException failure)
                        LogRetry(_logger, failure.Uri, failure.Cause, arguments.AttemptNumber + 2, options.MaxAttempts, arguments.RetryDelay.TotalSeconds);
                    return default;
                },
            });
        }
        Retry = builder.Build();
    }

    /// <summary>The cache's URL; always ends with '/'.</summary>
    public Uri BaseUri { get; }

    internal BinaryCacheHttpOptions Options { get; }

    /// <summary>Retries <see cref="TransientHttpException"/> up to MaxAttempts in all.</summary>
    internal ResiliencePipeline Retry { get; }

    /// <summary>Bytes of every response body received (as sent, before any decompression), for progress lines.</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>HTTP requests sent (each retry and resumption counts; redirects followed inside one do not).</summary>
    public long RequestCount => Interlocked.Read(ref _requestCount);

    internal void CountBytes(int count) => Interlocked.Add(ref _bytesReceived, count);

    /// <summary>
    /// GETs <c>BaseUri + relativePath</c> (e.g. "nix-cache-info", "&lt;hash&gt;.narinfo") whole, at most
    /// <paramref name="maxBytes"/> (a larger body is a <see cref="StoreUnavailableException"/> naming
    /// the URL). Null for 404, 403 and 410: absent, as Nix treats them. Transient failures are
    /// retried; any other failure is a <see cref="StoreUnavailableException"/> whose message names
    /// the URL and the cause ("HTTP 500", "stalled for 30 s", "too many redirects", "connection refused").
    /// </summary>
    public async Task<byte[]?> GetSmallAsync(string relativePath, int maxBytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        Uri uri = Resolve(relativePath);
        try
        {
            return await Retry.ExecuteAsync(
                static (state, token) => state.Client.GetSmallOnceAsync(state.Uri, state.MaxBytes, token),
                (Client: this, Uri: uri, MaxBytes: maxBytes), cancellationToken).ConfigureAwait(false);
        }
        catch (TransientHttpException failure)
        {
            throw GaveUp(failure);
        }
    }

    /// <summary>
    /// Opens a file of the cache (a NAR) for streaming: <paramref name="url"/> relative to
    /// <see cref="BaseUri"/> or absolute http(s). The stream delivers exactly the file's bytes: a
    /// read that fails transiently re-requests the rest with <c>Range: bytes=N-</c> (or, when the
    /// server ignores Range, the whole file again, skipping what was delivered) up to MaxAttempts
    /// times without progress, then throws <see cref="StoreUnavailableException"/>; a stall longer
    /// than StallTimeout fails the attempt. 404/403/410 at open: <see cref="StoreNotFoundException"/>
    /// naming the URL. Use ReadAsync: a synchronous Read blocks a thread on the network.
    /// </summary>
    public async Task<Stream> OpenReadAsync(string url, CancellationToken cancellationToken)
    {
        Uri uri = Resolve(url);
        var stream = new ResumableHttpStream(this, uri);
        try
        {
            await Retry.ExecuteAsync(static (s, token) => s.OpenAsync(token), stream, cancellationToken).ConfigureAwait(false);
        }
        catch (TransientHttpException failure)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw GaveUp(failure);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return stream.ContentEncoding is { } encoding ? NarCompression.Open(stream, encoding) : stream;
    }

    public void Dispose() => _http.Dispose();

    internal StoreUnavailableException GaveUp(TransientHttpException failure) =>
        new($"GET {failure.Uri}: {failure.Cause} (gave up after {Options.MaxAttempts} attempt{(Options.MaxAttempts == 1 ? "" : "s")})", failure);

    /// <summary>
    /// A narinfo URL or path: absolute http(s), or relative to the cache, joined as Nix joins it
    /// (cache URL + "/" + path).
    /// </summary>
    private Uri Resolve(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            return Uri.TryCreate(url, UriKind.Absolute, out Uri? absolute)
                ? absolute
                : throw new StoreUnavailableException($"invalid URL '{url}' for binary cache {BaseUri}");
        }
        if (url.Contains("://", StringComparison.Ordinal) || url.Length == 0)
            throw new StoreUnavailableException($"unsupported URL '{url}' for binary cache {BaseUri} (only http, https and paths relative to the cache)");
        return Uri.TryCreate(BaseUri.AbsoluteUri + url, UriKind.Absolute, out Uri? relative)
            ? relative
            : throw new StoreUnavailableException($"invalid path '{url}' for binary cache {BaseUri}");
    }

    /// <summary>One GET: response headers within StallTimeout, then each body read within StallTimeout.</summary>
    internal async Task<HttpResponseMessage> SendAsync(Uri uri, long rangeStart, RangeConditionHeaderValue? ifRange,
        CancellationTokenSource stall, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (rangeStart > 0)
        {
            request.Headers.Range = new RangeHeaderValue(rangeStart, null);
            request.Headers.IfRange = ifRange;
        }
        Interlocked.Increment(ref _requestCount);
        stall.CancelAfter(Options.StallTimeout);
        try
        {
            return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);
        }
        catch (Exception failure) when (failure is HttpRequestException or IOException or OperationCanceledException)
        {
            throw Transient(uri, failure, stall, cancellationToken);
        }
    }

    /// <summary>
    /// Classifies a failed send or read: the caller's cancellation stays an OperationCanceledException;
    /// a stall, a connect timeout and connection failures become transient; TLS and name errors do not.
    /// </summary>
    internal Exception Transient(Uri uri, Exception failure, CancellationTokenSource stall, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return new OperationCanceledException(cancellationToken);
        if (failure is OperationCanceledException)
        {
            return stall.IsCancellationRequested
                ? new TransientHttpException(uri, $"stalled for {Options.StallTimeout.TotalSeconds:0.###} s", null, failure)
                : new TransientHttpException(uri, $"connect timed out after {Options.ConnectTimeout.TotalSeconds:0.###} s", null, failure);
        }
        if (failure is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError or HttpRequestError.NameResolutionError })
            return new StoreUnavailableException($"GET {uri}: {Describe(failure)}", failure);
        return new TransientHttpException(uri, Describe(failure), null, failure);
    }

    /// <summary>The short cause of a network failure: "connection refused", "connection reset", ….</summary>
    private static string Describe(Exception failure)
    {
        for (Exception? e = failure; e is not null; e = e.InnerException)
        {
            if (e is SocketException socket)
            {
                return socket.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused",
                    SocketError.ConnectionReset => "connection reset",
                    SocketError.ConnectionAborted => "connection aborted",
                    SocketError.TimedOut => "connection timed out",
                    SocketError.HostNotFound or SocketError.NoData => "host not found",
                    SocketError.NetworkUnreachable or SocketError.HostUnreachable => "host unreachable",
                    _ => socket.Message,
                };
            }
        }
        return failure switch
        {
            HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded } or HttpIOException { HttpRequestError: HttpRequestError.ResponseEnded } =>
                "connection closed before the response ended",
            HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } => "TLS failed: " + failure.Message,
            HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError } => "host not found: " + failure.Message,
            _ => failure.Message,
        };
    }

    /// <summary>
    /// Throws for a status that is neither success nor absence: transient (5xx but 501/505, 408, 429)
    /// or a <see cref="StoreUnavailableException"/> naming the URL.
    /// </summary>
    internal void ThrowForStatus(HttpResponseMessage response, Uri uri)
    {
        int status = (int)response.StatusCode;
        string cause = $"HTTP {status}" + (string.IsNullOrEmpty(response.ReasonPhrase) ? "" : " " + response.ReasonPhrase);
        if ((status >= 500 && status != 501 && status != 505) || status == 408 || status == 429)
        {
            TimeSpan? retryAfter = response.Headers.RetryAfter switch
            {
                { Delta: { } delta } => delta,
                { Date: { } date } => date - DateTimeOffset.UtcNow is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
                _ => null,
            };
            throw new TransientHttpException(uri, cause, retryAfter);
        }
        if (status is >= 300 and < 400)
        {
            throw new StoreUnavailableException(
                $"GET {uri}: too many redirects (more than {Options.MaxRedirects}) or a redirect that cannot be followed ({cause}, Location: {response.Headers.Location})");
        }
        throw new StoreUnavailableException($"GET {uri}: {cause}");
    }

    internal static bool IsAbsent(HttpStatusCode status) =>
        status is HttpStatusCode.NotFound or HttpStatusCode.Forbidden or HttpStatusCode.Gone;

    /// <summary>The NarCompression method for a Content-Encoding the server applied although none was asked for; null for none.</summary>
    internal static string? ContentEncodingMethod(HttpResponseMessage response, Uri uri)
    {
        string? method = null;
        foreach (string encoding in response.Content.Headers.ContentEncoding)
        {
            string? next = encoding.ToLowerInvariant() switch
            {
                "identity" => null,
                "gzip" or "x-gzip" => "gzip",
                "br" => "br",
                "zstd" => "zstd",
                "xz" => "xz",
                "bzip2" => "bzip2",
                _ => throw new StoreUnavailableException($"GET {uri}: unsupported Content-Encoding '{encoding}'"),
            };
            if (next is null) continue;
            if (method is not null) throw new StoreUnavailableException($"GET {uri}: more than one Content-Encoding");
            method = next;
        }
        return method;
    }

    private async ValueTask<byte[]?> GetSmallOnceAsync(Uri uri, int maxBytes, CancellationToken cancellationToken)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using HttpResponseMessage response = await SendAsync(uri, 0, null, stall, cancellationToken).ConfigureAwait(false);
        if (IsAbsent(response.StatusCode)) return null;
        if (!response.IsSuccessStatusCode || response.StatusCode == HttpStatusCode.PartialContent) ThrowForStatus(response, uri);
        string? encoding = ContentEncodingMethod(response, uri);
        if (response.Content.Headers.ContentLength is long declared && declared > maxBytes)
            throw TooLarge(uri, maxBytes, $"Content-Length {declared}");

        byte[] body = new byte[Math.Min(maxBytes + 1, response.Content.Headers.ContentLength is long known ? (int)known + 1 : 16 * 1024)];
        int length = 0;
        try
        {
            Stream content = await response.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
            while (true)
            {
                if (length == body.Length)
                {
                    if (length > maxBytes) throw TooLarge(uri, maxBytes, "more bytes");
                    Array.Resize(ref body, (int)Math.Min((long)maxBytes + 1, 2L * body.Length));
                }
                stall.CancelAfter(Options.StallTimeout);
                int n = await content.ReadAsync(body.AsMemory(length), stall.Token).ConfigureAwait(false);
                if (n == 0) break;
                length += n;
                CountBytes(n);
            }
        }
        catch (Exception failure) when (failure is HttpRequestException or IOException or OperationCanceledException)
        {
            throw Transient(uri, failure, stall, cancellationToken);
        }
        if (length > maxBytes) throw TooLarge(uri, maxBytes, "more bytes");
        if (encoding is null) return body.AsSpan(0, length).ToArray();
        return DecodeSmall(uri, body.AsMemory(0, length), encoding, maxBytes);
    }

    private static byte[] DecodeSmall(Uri uri, ReadOnlyMemory<byte> encoded, string method, int maxBytes)
    {
        using Stream decoder = NarCompression.Open(new MemoryStream(encoded.ToArray(), writable: false), method);
        byte[] body = new byte[maxBytes + 1];
        int length = 0;
        try
        {
            int n;
            while (length < body.Length && (n = decoder.Read(body.AsSpan(length))) > 0) length += n;
        }
        catch (InvalidDataException failure)
        {
            throw new StoreUnavailableException($"GET {uri}: the {method}-encoded body does not decode: {failure.Message}", failure);
        }
        if (length > maxBytes) throw TooLarge(uri, maxBytes, "more bytes once decoded");
        return body.AsSpan(0, length).ToArray();
    }

    private static StoreUnavailableException TooLarge(Uri uri, int maxBytes, string what) =>
        new($"GET {uri}: the body is larger than the {maxBytes} bytes allowed ({what})");

    [LoggerMessage(Level = LogLevel.Information, Message = "GET {Uri}: {Cause}; attempt {Attempt} of {MaxAttempts} in {DelaySeconds:0.##} s")]
    private static partial void LogRetry(ILogger logger, Uri uri, string cause, int attempt, int maxAttempts, double delaySeconds);
}
