using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>Where a fetched blob's verified bytes are kept while it is open: filled once, then read.</summary>
internal abstract class BlobContents : IDisposable
{
    public abstract void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>A reader that owns these contents from now on.</summary>
    public abstract BlobReader Reader();

    public abstract void Dispose();
}
