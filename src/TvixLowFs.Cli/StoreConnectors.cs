using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Client;

namespace TvixLowFs.Cli;

/// <summary>Where the command line gets the opener for grpc+http:// and grpc+unix:// store addresses.</summary>
internal static class StoreConnectors
{
    /// <summary>
    /// The gRPC connector: one channel per distinct address, a probe per service at open (an
    /// unreachable daemon is one clear error), every call bounded by <paramref name="options"/>.
    /// </summary>
    public static GrpcStoreConnector Remote(GrpcClientOptions options) => new(options);
}
