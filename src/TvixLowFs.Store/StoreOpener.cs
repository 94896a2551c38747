using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using TvixLowFs.Store.BinaryCache;
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

/// <summary>How a <c>nix+http(s)://</c> PathInfo service is opened.</summary>
public sealed class BinaryCacheOpenOptions
{
    /// <summary>
    /// Where substituted PathInfos are kept, one store directory per (cache, blob service, directory
    /// service) below it, so a second process asks the cache nothing; null keeps them in memory.
    /// </summary>
    public string? KeptDirectory { get; init; }

    public BinaryCacheHttpOptions Http { get; init; } = new();

    public ILoggerFactory? Loggers { get; init; }
}

/// <summary>
/// Turns three addresses (blobs, directories, PathInfos) into services. Roles naming the same
/// local directory share one <see cref="LocalStore"/>; all memory:// roles of one call share one
/// in-process store. A PathInfo service computes NARs over the blob and directory services
/// opened alongside it. grpc+ addresses go to <see cref="IRemoteStoreConnector"/>; a nix+http(s)
/// PathInfo service substitutes into the blob and directory services opened with it.
/// </summary>
public sealed class StoreOpener(IRemoteStoreConnector? remote = null, BinaryCacheOpenOptions? binaryCaches = null,
    IObjectStoreConnector? objectStores = null)
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

        foreach ((StoreAddress address, string role) in new[] { (blobAddress, "blob"), (directoryAddress, "directory") })
        {
            if (address.Kind == StoreAddressKind.NixHttp)
                throw new StoreUnavailableException($"store address '{address}': a Nix binary cache serves PathInfos only, not as the {role} service; give it as --path-info-service-addr");
        }
        IBlobService blobs = blobAddress.Kind switch
        {
            StoreAddressKind.Memory => new MemoryBlobService(),
            StoreAddressKind.Local => new LocalBlobService(Local(blobAddress)),
            StoreAddressKind.ObjectStoreS3 => ObjectStores(blobAddress).OpenBlobService(blobAddress),
            _ => Remote(blobAddress).OpenBlobService(blobAddress),
        };
        IDirectoryService directories = directoryAddress.Kind switch
        {
            StoreAddressKind.Memory => new MemoryDirectoryService(),
            StoreAddressKind.Local => new LocalDirectoryService(Local(directoryAddress)),
            StoreAddressKind.ObjectStoreS3 => ObjectStores(directoryAddress).OpenDirectoryService(directoryAddress),
            _ => Remote(directoryAddress).OpenDirectoryService(directoryAddress),
        };
        var narCalculator = new NarCalculator(blobs, directories);
        IPathInfoService pathInfos = pathInfoAddress.Kind switch
        {
            StoreAddressKind.Memory => new MemoryPathInfoService(narCalculator),
            StoreAddressKind.Local => new LocalPathInfoService(Local(pathInfoAddress), narCalculator),
            StoreAddressKind.ObjectStoreS3 => ObjectStores(pathInfoAddress).OpenPathInfoService(pathInfoAddress, narCalculator),
            StoreAddressKind.NixHttp => OpenBinaryCache(pathInfoAddress, blobAddress, directoryAddress, blobs, directories, narCalculator),
            _ => Remote(pathInfoAddress).OpenPathInfoService(pathInfoAddress),
        };
        return new StoreServices(blobs, directories, pathInfos)
        {
            OnThisMachine = blobAddress.IsOnThisMachine && directoryAddress.IsOnThisMachine,
        };
    }

    private NixHttpPathInfoService OpenBinaryCache(StoreAddress cache, StoreAddress blobAddress, StoreAddress directoryAddress,
        IBlobService blobs, IDirectoryService directories, NarCalculator narCalculator)
    {
        BinaryCacheOpenOptions options = binaryCaches ?? new BinaryCacheOpenOptions();
        // Kept PathInfos name blobs and directories: keep them on disk only when those are not in memory.
        if (options.KeptDirectory is not { } root || blobAddress.Kind == StoreAddressKind.Memory || directoryAddress.Kind == StoreAddressKind.Memory)
            return new NixHttpPathInfoService(cache, blobs, directories, new MemoryPathInfoService(narCalculator), ownsKept: true, options.Http,
                options.Loggers?.CreateLogger("binary-cache"));
        LocalStore kept = LocalStore.Open(Path.GetFullPath(KeptStoreDirectory(root, cache, blobAddress, directoryAddress)));
        return new NixHttpPathInfoService(cache, blobs, directories, new LocalPathInfoService(kept, narCalculator), ownsKept: true, options.Http,
            options.Loggers?.CreateLogger("binary-cache"), cacheInfoFile: Path.Join(kept.Root, "nix-cache-info"));
    }

    /// <summary><c>ROOT/binary-caches/&lt;16 hex digits&gt;</c>, named by the cache URL and the two services its PathInfos point into.</summary>
    public static string KeptStoreDirectory(string root, StoreAddress cache, StoreAddress blobAddress, StoreAddress directoryAddress)
    {
        ArgumentNullException.ThrowIfNull(cache);
        string identity = $"{cache.BinaryCache}\n{blobAddress}\n{directoryAddress}";
        string name = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(identity)))[..16];
        return Path.Join(root, "binary-caches", name);
    }

    private IObjectStoreConnector ObjectStores(StoreAddress address) =>
        objectStores ?? throw new StoreUnavailableException(RemoteUnsupported(address));

    private IRemoteStoreConnector Remote(StoreAddress address) =>
        remote ?? throw new StoreUnavailableException(RemoteUnsupported(address));
}
