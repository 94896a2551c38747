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

    /// <summary>Held while a readdir extends or reads the entries (the kernel may race them on one handle).</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    public List<RootEntry> Entries { get; } = [];

    public bool Exhausted { get; private set; }

    /// <summary>The next PathInfo of the listing, or null at its end.</summary>
    public async ValueTask<PathInfo?> NextAsync()
    {
        if (Exhausted)
            return null;
        if (await _source.MoveNextAsync().ConfigureAwait(false))
            return _source.Current;
        Exhausted = true;
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync().ConfigureAwait(false);
        try
        {
            await _source.DisposeAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _lifetime.Dispose();
        Gate.Dispose();
    }
}
