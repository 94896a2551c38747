namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// One attempt of a request failed in a way a later attempt may not (5xx, reset, stall, …); the
/// retry pipeline handles exactly this type. <see cref="Cause"/> is the short reason
/// ("HTTP 503", "connection reset", "stalled for 30 s") that the final error names.
/// </summary>
internal sealed class TransientHttpException(Uri uri, string cause, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception($"GET {uri}: {cause}", inner)
{
    public Uri Uri { get; } = uri;

    public string Cause { get; } = cause;

    /// <summary>The server's Retry-After, when it sent one.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}
