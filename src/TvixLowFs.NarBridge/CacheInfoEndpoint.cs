using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace TvixLowFs.NarBridge;

/// <summary><c>/nix-cache-info</c>: what the cache is (GET, HEAD) and the PUT Nix sends to a cache that has none.</summary>
internal sealed class CacheInfoEndpoint(NarBridgeOptions options)
{
    public const string ContentType = "text/x-nix-cache-info";

    // nix-cache-info is small; anything bigger is not one.
    private const int MaxPutBytes = 64 * 1024;

    private readonly string _text = "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: " + options.Priority.ToString(CultureInfo.InvariantCulture) + "\n";

    public Task GetAsync(HttpContext context) => TextResponse.WriteAsync(context, StatusCodes.Status200OK, ContentType, _text);

    /// <summary>Accepted and not kept: this server's nix-cache-info is its own (the store directory is always /nix/store).</summary>
    public async Task PutAsync(HttpContext context)
    {
        if (context.Request.ContentLength > MaxPutBytes)
            throw UploadBodyStream.TooLarge(MaxPutBytes);
        await using var body = new UploadBodyStream(context.Request.Body, MaxPutBytes, options.UploadStallTimeout, context.RequestAborted);
        await body.DrainAsync(context.RequestAborted).ConfigureAwait(false);
        TextResponse.Empty(context);
    }
}
