namespace TvixLowFs.Store.Memory;

/// <summary>
/// A memory blob's bytes in segments that double from 4 KiB up to 1 MiB and then stay at 1 MiB, so
/// small blobs waste little and a large one is never reallocated. Written once, then only read.
/// </summary>
internal sealed class BlobSegments
{
    private const int FirstSegment = 4096;
    private const int LargestSegment = 1 << 20;

    private readonly List<byte[]> _segments = [];
    private readonly List<long> _starts = [];
    private int _lastUsed;

    public long Length { get; private set; }

    public void Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_segments.Count == 0 || _lastUsed == _segments[^1].Length)
            {
                int size = _segments.Count == 0 ? FirstSegment : Math.Min(_segments[^1].Length * 2, LargestSegment);
                _starts.Add(Length);
                _segments.Add(GC.AllocateUninitializedArray<byte>(size));
                _lastUsed = 0;
            }
            int count = Math.Min(data.Length, _segments[^1].Length - _lastUsed);
            data[..count].CopyTo(_segments[^1].AsSpan(_lastUsed));
            _lastUsed += count;
            Length += count;
            data = data[count..];
        }
    }

    /// <summary>Copies bytes from <paramref name="offset"/> into <paramref name="destination"/>; fewer only at the end.</summary>
    public int CopyTo(long offset, Span<byte> destination)
    {
        if (offset >= Length || destination.IsEmpty)
            return 0;
        int index = _starts.BinarySearch(offset);
        if (index < 0)
            index = ~index - 1;
        int copied = 0;
        while (copied < destination.Length && index < _segments.Count)
        {
            long segmentEnd = index == _segments.Count - 1 ? Length : _starts[index + 1];
            int from = (int)(offset + copied - _starts[index]);
            int count = (int)Math.Min(destination.Length - copied, segmentEnd - _starts[index] - from);
            _segments[index].AsSpan(from, count).CopyTo(destination[copied..]);
            copied += count;
            index++;
        }
        return copied;
    }
}
