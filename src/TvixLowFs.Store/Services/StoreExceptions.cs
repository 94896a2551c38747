namespace TvixLowFs.Store.Services;

/// <summary>An object the caller named is not in the store.</summary>
public sealed class StoreNotFoundException(string message) : Exception(message);

/// <summary>The store could not be reached or failed; the message names the address or object.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A PathInfo was put for a store path the store already holds with a different root node: store
/// paths are immutable, so it is refused and the stored one stays (gRPC ALREADY_EXISTS).
/// </summary>
public sealed class StorePathConflictException(string message) : Exception(message);

/// <summary>
/// A request went past one of the bounds a server keeps (sizes, counts, work); the message names
/// the limit and its value, and nothing of the request was stored (gRPC RESOURCE_EXHAUSTED).
/// </summary>
public sealed class StoreLimitExceededException(string message) : Exception(message);
