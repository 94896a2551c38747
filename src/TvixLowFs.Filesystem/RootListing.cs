using TvixLowFs.Protos.Store;

namespace TvixLowFs.Filesystem;

/// <summary>
/// One open listing of the root (<c>--list-root</c>): the PathInfoService listing, pulled only as
/// far as the kernel has asked, with every entry seen kept so a readdir at any earlier offset
/// resumes without starting the listing again. Lives from opendir to releasedir.
/// </summary>
internal sealed class RootListing : IAsyncDisposable
{
    private readonly CancellationTokenSource _lifetime = new();
    private readonly IAsyncEnumerator<PathInfo> _source;

    public RootListing(TvixLowFs.Store.Services.IPathInfoService pathInfos)
    {
        _source = pathInfos.ListAsync(_lifetime.Token).GetAsyncEnumerator(_lifetime.Token);
    }

    /// <summary>
    /// Held while a readdir extends or reads the entries (the kernel may race them on one handle),
    /// and by <see cref="DisposeAsync"/> while it releases the source. Never disposed: a readdir
    /// may still be waiting for it when releasedir comes (it then finds <see cref="IsReleased"/>).
    /// </summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    private volatile bool _released;

    /// <summary>Set once releasedir has come: a readdir that gets the gate after it answers EIO.</summary>
    public bool IsReleased => _released;

    public List<RootEntry> Entries { get; } = [];

    public bool Exhausted { get; private set; }

    /// <summary>Set when the listing failed or timed out: the source cannot be advanced any more.</summary>
    public bool Failed { get; private set; }

    /// <summary>
    /// The next PathInfo of the listing, or null at its end. Throws (and stays failed) when the
    /// service fails or does not answer within <paramref name="timeout"/>, or once
    /// <paramref name="abandoned"/> (the shutdown gave up on the backend).
    /// </summary>
    public async ValueTask<PathInfo?> NextAsync(TimeSpan timeout, CancellationToken abandoned)
    {
        if (Failed)
            throw new IOException("the root listing failed earlier");
        if (_released)
            throw new IOException("the listing was released");
        if (Exhausted)
            return null;
        try
        {
            ValueTask<bool> pending = _source.MoveNextAsync();
            bool more = pending.IsCompletedSuccessfully ? pending.Result : await pending.AsTask().WaitAsync(timeout, abandoned).ConfigureAwait(false);
            if (more)
                return _source.Current;
        }
        catch
        {
            Failed = true;
            throw;
        }
        Exhausted = true;
        return null;
    }

    /// <summary>
    /// Ends the listing at releasedir: cancels the source (a readdir waiting on it then fails and
    /// answers EIO), waits for the readdir holding the gate (bounded by its own deadline), then
    /// disposes the source.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        _released = true;
        await _lifetime.CancelAsync().ConfigureAwait(false);
        await Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _source.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or NotSupportedException)
        {
            // A source still busy with a timed-out MoveNext cannot be disposed; cancellation ends it.
        }
        finally
        {
            Gate.Release();
            _lifetime.Dispose();
        }
    }
}
