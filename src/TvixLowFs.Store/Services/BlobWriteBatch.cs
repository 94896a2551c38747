namespace TvixLowFs.Store.Services;

/// <summary>Starts a write batch on any blob service.</summary>
public static class BlobWriteBatch
{
    /// <summary>
    /// The service's own batch when it has one (<see cref="IBlobWriteBatching"/>), else a batch
    /// whose writers are the service's own, durable on close, with nothing left to commit.
    /// </summary>
    public static IBlobWriteBatch Begin(IBlobService blobs)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        return blobs is IBlobWriteBatching batching ? batching.BeginWriteBatch() : new DurableOnCloseBatch(blobs);
    }

    private sealed class DurableOnCloseBatch(IBlobService blobs) : IBlobWriteBatch
    {
        public BlobWriter OpenWrite() => blobs.OpenWrite();

        public bool ClosesWithoutWaiting => false;

        public ValueTask CommitAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
