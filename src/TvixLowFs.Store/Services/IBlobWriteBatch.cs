namespace TvixLowFs.Store.Services;

/// <summary>
/// Many blob writes made durable together (<see cref="BlobWriteBatch.Begin"/>): a writer's
/// <see cref="BlobWriter.CloseAsync"/> returns the digest once the bytes are complete, and
/// <see cref="CommitAsync"/> makes every blob closed so far durable and stored under its digest.
/// Until then a closed blob may be absent (a local store: not yet named) or already stored (a
/// service whose writes are durable on close); after a successful commit each is stored. Disposing
/// the batch discards what was closed and not committed, where the service can; blobs are
/// content-addressed, so one stored early is harmless. Writers may be used from several threads.
/// </summary>
public interface IBlobWriteBatch : IAsyncDisposable
{
    /// <summary>Starts a blob of this batch.</summary>
    BlobWriter OpenWrite();

    /// <summary>
    /// True when a writer's close only finishes the hash (durability waits for the commit): a caller
    /// may close inline instead of overlapping closes with its own work.
    /// </summary>
    bool ClosesWithoutWaiting { get; }

    /// <summary>Makes every blob closed in this batch so far durable and stored; the batch can go on after it.</summary>
    ValueTask CommitAsync(CancellationToken cancellationToken = default);
}
