namespace TvixLowFs.Store.Model;

/// <summary>
/// A byte stream offered as a NAR is not one, or not the one announced: the message says what and
/// at which byte of the NAR (<c>invalid NAR: entry names out of order at byte 1234</c>).
/// </summary>
public sealed class InvalidNarException(string message) : Exception(message)
{
    /// <summary>The archive is (or declares itself) longer than the reader's bound: too large rather than malformed.</summary>
    public bool ExceedsSizeBound { get; init; }
}
