using Microsoft.AspNetCore.Http;

namespace TvixLowFs.NarBridge;

/// <summary>
/// <c>/&lt;hash&gt;.ls</c>: a NAR listing (JSON) that <c>nix copy --to '…?write-nar-listing=true'</c>
/// uploads. The tree is in the store already, so a PUT is accepted (Nix fails the copy on a refused
/// upload) and its body read and dropped; a GET is 404.
/// </summary>
internal sealed class NarListingEndpoint(NarBridgeOptions options)
{
    // A listing is ~100 bytes per entry: 256 MiB is millions of files.
    private const long MaxPutBytes = 256L << 20;

    public async Task PutAsync(HttpContext context)
    {
        if (context.Request.ContentLength > MaxPutBytes)
            throw UploadBodyStream.TooLarge(MaxPutBytes);
        await using var body = new UploadBodyStream(context.Request.Body, MaxPutBytes, options.UploadStallTimeout, context.RequestAborted);
        await body.DrainAsync(context.RequestAborted).ConfigureAwait(false);
        TextResponse.Empty(context);
    }
}
