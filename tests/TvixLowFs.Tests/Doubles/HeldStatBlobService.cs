using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Test double of a slow blob backend for counting concurrent calls: every Stat waits until
/// <see cref="Release"/>, and the most Stats ever waiting at once is kept. Everything else is the
/// real store it wraps.
/// </summary>
internal sealed class HeldStatBlobService(IBlobService inner) : IBlobService
{
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _waiting;
    private int _mostWaiting;

    /// <summary>Stats waiting now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>The most Stats that ever waited at once.</summary>
    public int MostWaiting => Volatile.Read(ref _mostWaiting);

    public void Release() => _released.TrySetResult();

    public async ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        int now = Interlocked.Increment(ref _waiting);
        for (int most = MostWaiting; now > most; most = MostWaiting)
            Interlocked.CompareExchange(ref _mostWaiting, now, most);
        try
        {
            await _released.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
        return await inner.StatAsync(digest, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default) => inner.OpenReadAsync(digest, cancellationToken);

    public BlobWriter OpenWrite() => inner.OpenWrite();

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
