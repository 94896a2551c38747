using TvixLowFs.Store;

namespace TvixLowFs.Cli;

/// <summary>Where the command line gets the opener for grpc+http:// and grpc+unix:// store addresses.</summary>
internal static class StoreConnectors
{
    // TODO(grpc): return the gRPC client project's IRemoteStoreConnector here. Until then
    // StoreOpener answers a grpc+ address with "grpc+http store addresses are not supported yet".
    public static IRemoteStoreConnector? Remote => null;
}
