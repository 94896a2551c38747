using TvixLowFs.Store;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Grpc;

/// <summary>A read-through cache directory of one test's own (deleted with it), and remote stores cached in it.</summary>
internal sealed class TemporaryCacheDirectory(string kind) : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"tvixlowfs-{kind}-" + Guid.NewGuid().ToString("N"));

    /// <summary>The store at <paramref name="address"/> (all three services) behind a cache in this directory.</summary>
    public StoreServices OpenCached(string address, GrpcStoreConnector connector)
    {
        var storeAddress = StoreAddress.Parse(address);
        return ReadThroughCache.Wrap(new StoreOpener(connector).Open(storeAddress), Path, storeAddress, storeAddress);
    }

    public void Dispose()
    {
        if (Directory.Exists(Path))
            Directory.Delete(Path, recursive: true);
    }
}
