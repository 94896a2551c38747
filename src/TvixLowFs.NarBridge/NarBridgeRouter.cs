using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.NarBridge;

/// <summary>
/// The one request delegate: parses the raw target into a <see cref="BridgeRoute"/>, picks the
/// endpoint by route and method, and turns every refusal into its status with a one-line reason
/// (the body, and one warning line). One debug line per request.
/// </summary>
internal sealed class NarBridgeRouter
{
    private readonly NarBridgeOptions _options;
    private readonly ILogger _logger;
    private readonly CacheInfoEndpoint _cacheInfo;
    private readonly NarInfoEndpoint _narInfo;
    private readonly NarListingEndpoint _listing;
    private readonly NarEndpoint _nar;
    private readonly NarUpload _upload;

    public NarBridgeRouter(StoreServices store, NarBridgeOptions options, TimeProvider clock, ILogger logger)
    {
        _options = options;
        _logger = logger;
        var received = new ReceivedNars(options.ReceivedNarCapacity, options.ReceivedNarLifetime, clock);
        Received = received;
        _cacheInfo = new CacheInfoEndpoint(options);
        _narInfo = new NarInfoEndpoint(store, options, received, logger);
        _listing = new NarListingEndpoint(options);
        _nar = new NarEndpoint(store, logger);
        _upload = new NarUpload(store, options, received, clock, logger);
    }

    /// <summary>The uploads awaiting their narinfo.</summary>
    public ReceivedNars Received { get; }

    public async Task HandleAsync(HttpContext context)
    {
        long started = Stopwatch.GetTimestamp();
        string method = context.Request.Method;
        string target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
        try
        {
            await DispatchAsync(context, method, target).ConfigureAwait(false);
        }
        catch (RequestRefusedException e)
        {
            LogRefusal(e.Status, e.Reason);
            await AnswerAsync(context, e.Status, e.Reason).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            _logger.LogDebug("{Method} {Target}: the client went away", method, Show(target));
            return;
        }
        catch (StoreUnavailableException e)
        {
            _logger.LogWarning("{Method} {Target} -> 503: {Reason}", method, Show(target), OneLine(e.Message));
            await AnswerAsync(context, StatusCodes.Status503ServiceUnavailable, "the store is unavailable: " + OneLine(e.Message)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StoreValidationException or StoreNotFoundException or IOException)
        {
            _logger.LogWarning("{Method} {Target} -> 500: {Reason}", method, Show(target), OneLine(e.Message));
            await AnswerAsync(context, StatusCodes.Status500InternalServerError, OneLine(e.Message)).ConfigureAwait(false);
        }
        if (_logger.IsEnabled(LogLevel.Debug))
            _logger.LogDebug("{Method} {Target} -> {Status} in {Milliseconds:0.#} ms", method, Show(target), context.Response.StatusCode,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds);

        void LogRefusal(int status, string reason)
        {
            // A lookup of a path the store lacks is an ordinary answer (Nix asks for every path it might need).
            if (status == StatusCodes.Status404NotFound && !HttpMethods.IsPut(method))
                _logger.LogDebug("{Method} {Target} -> 404: {Reason}", method, Show(target), reason);
            else
                _logger.LogWarning("{Method} {Target} -> {Status}: {Reason}", method, Show(target), status, reason);
        }
    }

    private Task DispatchAsync(HttpContext context, string method, string target)
    {
        BridgeRoute route = BridgeRoute.Parse(target);
        bool read = HttpMethods.IsGet(method) || HttpMethods.IsHead(method);
        bool put = HttpMethods.IsPut(method);
        if (!read && !put)
        {
            context.Response.Headers.Allow = _options.Writable ? "GET, HEAD, PUT" : "GET, HEAD";
            throw new RequestRefusedException(StatusCodes.Status405MethodNotAllowed, $"method {method} is not served");
        }
        if (put && !_options.Writable)
            throw new RequestRefusedException(StatusCodes.Status403Forbidden, "this nar-bridge is read-only (start it with --writable to accept uploads)");
        switch (route.Kind)
        {
            case BridgeRouteKind.CacheInfo:
                return read ? _cacheInfo.GetAsync(context) : _cacheInfo.PutAsync(context);
            case BridgeRouteKind.NarInfo:
                return read ? _narInfo.GetAsync(context, route.StorePathHash) : _narInfo.PutAsync(context, route.StorePathHash);
            case BridgeRouteKind.NarListing:
                return read ? throw NotFound() : _listing.PutAsync(context);
            case BridgeRouteKind.RenderedNar:
                return read ? _nar.GetAsync(context, route) : throw new RequestRefusedException(StatusCodes.Status405MethodNotAllowed, "rendered NARs are read-only");
            case BridgeRouteKind.UploadedNar:
                if (put)
                    return _upload.PutAsync(context, route);
                if (HttpMethods.IsHead(method))
                {
                    _upload.Head(context, route);
                    return Task.CompletedTask;
                }
                throw new RequestRefusedException(StatusCodes.Status404NotFound, "NARs are served uncompressed at the URL their narinfo names");
            default:
                throw NotFound();
        }
    }

    private static RequestRefusedException NotFound() => new(StatusCodes.Status404NotFound, "not found");

    private static async Task AnswerAsync(HttpContext context, int status, string reason)
    {
        if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }
        // Clear drops what an endpoint set before refusing; the two headers a refusal needs stay.
        var allow = context.Response.Headers.Allow;
        var contentRange = context.Response.Headers.ContentRange;
        context.Response.Clear();
        if (status == StatusCodes.Status405MethodNotAllowed)
            context.Response.Headers.Allow = allow;
        if (status == StatusCodes.Status416RangeNotSatisfiable)
            context.Response.Headers.ContentRange = contentRange;
        // A refused upload's body may be unread: the connection cannot carry another request.
        if (HttpMethods.IsPut(context.Request.Method))
            context.Response.Headers.Connection = "close";
        try
        {
            await TextResponse.WriteAsync(context, status, "text/plain; charset=utf-8", reason + "\n").ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The client is gone; the refusal is logged already.
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");

    private static string Show(string target) => NodeNames.Escape(target.Length <= 200 ? target : target[..200] + "...");
}
