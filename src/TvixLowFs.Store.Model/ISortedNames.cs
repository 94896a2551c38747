namespace TvixLowFs.Store.Model;

/// <summary>
/// Names in strictly ascending bytewise order, read by index: one Directory list, or the merged
/// names a mount keeps. <see cref="NodeNames.BinarySearch"/> searches any of them (a struct or a
/// sealed class: no delegate, no allocation).
/// </summary>
public interface ISortedNames
{
    int Count { get; }

    ReadOnlySpan<byte> NameAt(int index);
}
