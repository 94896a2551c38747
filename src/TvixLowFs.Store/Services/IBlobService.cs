using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Services;

/// <summary>File contents addressed by their BLAKE3-256 digest.</summary>
public interface IBlobService : IAsyncDisposable
{
    /// <summary>The blob's size, or null when the service does not have it.</summary>
    ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default);

    /// <summary>Opens a blob for positional reads, or returns null when it is absent.</summary>
    ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default);

    /// <summary>
    /// Opens a blob whose size the caller already knows (from its file node). A service holding a
    /// large blob as chunks elsewhere may then serve it by ranges, fetching only the chunks that are
    /// read, instead of fetching it whole before the first byte; the rest open it as usual.
    /// </summary>
    ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, long size, CancellationToken cancellationToken = default) =>
        OpenReadAsync(digest, cancellationToken);

    /// <summary>Starts a new blob; its digest is computed by the service when the writer is closed.</summary>
    BlobWriter OpenWrite();
}

/// <summary>
/// An open blob. Reads are positional so one reader serves concurrent requests
/// at any offsets; a backward seek costs nothing.
/// </summary>
public abstract class BlobReader : IDisposable
{
    public abstract long Length { get; }

    /// <summary>Reads up to <c>buffer.Length</c> bytes at <paramref name="offset"/>; fewer only at end of blob.</summary>
    public abstract ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default);

    /// <summary>
    /// A descriptor of a local file holding exactly the blob's bytes, when there is one:
    /// the FUSE read path splices from it instead of copying through managed memory.
    /// </summary>
    public virtual Microsoft.Win32.SafeHandles.SafeFileHandle? LocalFile => null;

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing) { }
}

/// <summary>
/// A blob being written. <see cref="CloseAsync"/> makes it durable and returns the
/// digest the service computed from the bytes; disposing an unclosed writer discards it.
/// </summary>
public abstract class BlobWriter : IAsyncDisposable
{
    public abstract ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    public abstract ValueTask<B3Digest> CloseAsync(CancellationToken cancellationToken = default);

    public abstract ValueTask DisposeAsync();
}
