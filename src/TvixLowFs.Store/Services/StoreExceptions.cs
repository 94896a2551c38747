namespace TvixLowFs.Store.Services;

/// <summary>An object the caller named is not in the store.</summary>
public sealed class StoreNotFoundException(string message) : Exception(message);

/// <summary>The store could not be reached or failed; the message names the address or object.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
