using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Test double of a slow blob backend: every open waits until <see cref="Open"/> is called (a
/// remote store that has not answered yet), then reads from the real store it wraps.
/// </summary>
internal sealed class GatedBlobService(IBlobService inner) : IBlobService
{
    private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when the first open reaches the backend.</summary>
    public ManualResetEventSlim Entered { get; } = new(false);

    public void Open() => _gate.TrySetResult();

    public ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default) => inner.StatAsync(digest, cancellationToken);

    public async ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        Entered.Set();
        await _gate.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return await inner.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false);
    }

    public BlobWriter OpenWrite() => inner.OpenWrite();

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
