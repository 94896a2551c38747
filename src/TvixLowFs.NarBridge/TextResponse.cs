using System.Text;
using Microsoft.AspNetCore.Http;

namespace TvixLowFs.NarBridge;

/// <summary>Small text answers: metadata files and one-line reasons, with their length (and no body for HEAD).</summary>
internal static class TextResponse
{
    public static Task WriteAsync(HttpContext context, int status, string contentType, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = contentType;
        response.ContentLength = bytes.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(bytes, context.RequestAborted).AsTask();
    }

    /// <summary>A success with nothing to say (an accepted PUT).</summary>
    public static void Empty(HttpContext context, int status = StatusCodes.Status200OK)
    {
        context.Response.StatusCode = status;
        context.Response.ContentLength = 0;
    }
}
