namespace TvixLowFs.Fuzz;

/// <summary>A decoder accepted an input but what it returned breaks a promise the product relies on (a crash).</summary>
public sealed class BrokenPromiseException(string message) : Exception(message);
