using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>
/// Opens the services of <c>objectstore+s3://</c> addresses, each with its own S3 client; options
/// the address leaves out (endpoint, region, credentials) come from <paramref name="environment"/>'s AWS_* variables.
/// </summary>
public sealed class ObjectStoreConnector(Func<string, string?> environment) : IObjectStoreConnector
{
    public ObjectStoreConnector() : this(Environment.GetEnvironmentVariable) { }

    public IBlobService OpenBlobService(StoreAddress address) => new ObjectStoreBlobService(new ObjectStoreBucket(address, environment));

    public IDirectoryService OpenDirectoryService(StoreAddress address) => new ObjectStoreDirectoryService(new ObjectStoreBucket(address, environment));

    public IPathInfoService OpenPathInfoService(StoreAddress address, NarCalculator narCalculator) =>
        new ObjectStorePathInfoService(new ObjectStoreBucket(address, environment), narCalculator);
}
