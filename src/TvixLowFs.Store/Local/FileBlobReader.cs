using Microsoft.Win32.SafeHandles;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Local;

/// <summary>
/// A blob held in a local file (the embedded store's, or the read-through cache's, named or about
/// to be): read positionally, and its descriptor handed out for splice and kernel passthrough.
/// </summary>
internal sealed class FileBlobReader(SafeFileHandle handle) : BlobReader
{
    private readonly long _length = RandomAccess.GetLength(handle);

    public override long Length => _length;

    public override SafeFileHandle LocalFile => handle;

    public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        // pread: positional and thread-safe; a blob file never changes, so this cannot block on anything but the disk.
        // Bounded by the length: the pread that would only confirm the end is not made (one per
        // small blob the daemon sends).
        int total = 0;
        while (total < buffer.Length && offset + total < _length)
        {
            int read = RandomAccess.Read(handle, buffer.Span[total..], offset + total);
            if (read == 0)
                break;
            total += read;
        }
        return ValueTask.FromResult(total);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            handle.Dispose();
    }
}
