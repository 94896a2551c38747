using TvixLowFs.Store.Local;
using TvixLowFs.Store.Memory;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store;

/// <summary>Opens the services of a remote (gRPC) store; implemented by the gRPC client project.</summary>
public interface IRemoteStoreConnector
{
    IBlobService OpenBlobService(StoreAddress address);
    IDirectoryService OpenDirectoryService(StoreAddress address);
    IPathInfoService OpenPathInfoService(StoreAddress address);
}

/// <summary>
/// Turns three addresses (blobs, directories, PathInfos) into services. Roles naming the same
/// local directory share one <see cref="LocalStore"/>; all memory:// roles of one call share one
/// in-process store. A PathInfo service computes NARs over the blob and directory services
/// opened alongside it. grpc+ addresses go to <see cref="IRemoteStoreConnector"/>.
/// </summary>
public sealed class StoreOpener(IRemoteStoreConnector? remote = null)
{
    /// <summary>The message given for a gRPC address when no connector is plugged in.</summary>
    public static string RemoteUnsupported(StoreAddress address) =>
        $"store address '{address}': {address.Text[..address.Text.IndexOf("://", StringComparison.Ordinal)]} store addresses are not supported yet";

    public StoreServices Open(StoreAddress address) => Open(address, address, address);

    public StoreServices Open(StoreAddress blobAddress, StoreAddress directoryAddress, StoreAddress pathInfoAddress)
    {
        var localStores = new Dictionary<string, LocalStore>(StringComparer.Ordinal);
        LocalStore Local(StoreAddress address)
        {
            if (!localStores.TryGetValue(address.Path!, out LocalStore? store))
                localStores[address.Path!] = store = LocalStore.Open(address.Path!);
            return store;
        }

        IBlobService blobs = blobAddress.Kind switch
        {
            StoreAddressKind.Memory => new MemoryBlobService(),
            StoreAddressKind.Local => new LocalBlobService(Local(blobAddress)),
            _ => Remote(blobAddress).OpenBlobService(blobAddress),
        };
        IDirectoryService directories = directoryAddress.Kind switch
        {
            StoreAddressKind.Memory => new MemoryDirectoryService(),
            StoreAddressKind.Local => new LocalDirectoryService(Local(directoryAddress)),
            _ => Remote(directoryAddress).OpenDirectoryService(directoryAddress),
        };
        var narCalculator = new NarCalculator(blobs, directories);
        IPathInfoService pathInfos = pathInfoAddress.Kind switch
        {
            StoreAddressKind.Memory => new MemoryPathInfoService(narCalculator),
            StoreAddressKind.Local => new LocalPathInfoService(Local(pathInfoAddress), narCalculator),
            _ => Remote(pathInfoAddress).OpenPathInfoService(pathInfoAddress),
        };
        return new StoreServices(blobs, directories, pathInfos);
    }

    private IRemoteStoreConnector Remote(StoreAddress address) =>
        remote ?? throw new StoreUnavailableException(RemoteUnsupported(address));
}
