using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store;

/// <summary>Opens the services of an <c>objectstore+s3://</c> address; implemented by the object-store project.</summary>
public interface IObjectStoreConnector
{
    IBlobService OpenBlobService(StoreAddress address);
    IDirectoryService OpenDirectoryService(StoreAddress address);

    /// <summary>A PathInfo service whose NARs are computed by <paramref name="narCalculator"/> (over the services opened with it).</summary>
    IPathInfoService OpenPathInfoService(StoreAddress address, NarCalculator narCalculator);
}
