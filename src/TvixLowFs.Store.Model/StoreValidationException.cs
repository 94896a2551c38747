namespace TvixLowFs.Store.Model;

/// <summary>Data offered to or read from the store breaks a rule of the protocol; the message says which.</summary>
public sealed class StoreValidationException(string message) : Exception(message);
