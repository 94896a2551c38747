namespace TvixLowFs.Store.Services;

/// <summary>
/// A blob service that makes a batch of writes durable for less than one at a time (a local store:
/// one sync for the batch instead of two fsyncs per blob). Callers use <see cref="BlobWriteBatch.Begin"/>,
/// which falls back to writes durable on close for any other service.
/// </summary>
public interface IBlobWriteBatching
{
    IBlobWriteBatch BeginWriteBatch();
}
