namespace TvixLowFs.Store.BinaryCache;

/// <summary>How <see cref="BinaryCacheHttpClient"/> talks to a binary cache.</summary>
public sealed class BinaryCacheHttpOptions
{
    /// <summary>No byte (response headers or body) for this long fails the attempt, which is then retried.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The bound on opening one TCP (and TLS) connection.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Attempts per request, the first included, for transient failures: HTTP 5xx (but 501 and 505),
    /// 408 and 429, a refused, reset or closed connection, a stall. A download that breaks mid-way
    /// resumes where it stopped, and every resumption that makes progress starts a new count.
    /// </summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>Redirects followed per request; one more (a loop) fails naming "too many redirects".</summary>
    public int MaxRedirects { get; init; } = 8;

    /// <summary>The wait before the first retry; each later one doubles it (with jitter), up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest wait between two attempts, also for a server's Retry-After.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one pooled connection is reused before a new one is opened (so DNS changes are seen).</summary>
    public TimeSpan PooledConnectionLifetime { get; init; } = TimeSpan.FromMinutes(5);
}
