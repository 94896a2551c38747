namespace TvixLowFs.Store.Services;

/// <summary>The three services of one store, as the command line and the filesystem use them.</summary>
public sealed class StoreServices(IBlobService blobs, IDirectoryService directories, IPathInfoService pathInfos) : IAsyncDisposable
{
    public IBlobService Blobs { get; } = blobs;
    public IDirectoryService Directories { get; } = directories;
    public IPathInfoService PathInfos { get; } = pathInfos;

    /// <summary>
    /// The blob and directory services answer from this machine's memory or disk (memory://,
    /// local://), so a miss costs no network: decided once, from the addresses, by the opener.
    /// </summary>
    public bool OnThisMachine { get; init; }

    public async ValueTask DisposeAsync()
    {
        // The same instance may serve several roles (one local store); dispose each once.
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (IAsyncDisposable service in new IAsyncDisposable[] { Blobs, Directories, PathInfos })
        {
            if (seen.Add(service))
                await service.DisposeAsync().ConfigureAwait(false);
        }
    }
}
