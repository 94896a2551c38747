using Google.Protobuf;
using Grpc.Core;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Client;

/// <summary>
/// Opens the gRPC service clients of a command: one channel per distinct address, shared by
/// the services that name it, and a probe call per service first so that an unreachable daemon
/// is one clear error at start rather than a failure on first use.
/// </summary>
public sealed class GrpcStoreConnector(GrpcClientOptions options) : IRemoteStoreConnector, IDisposable
{
    // Keyed by endpoint (StoreAddress equality ignores spelling), so roles naming one daemon
    // differently still share a channel.
    private readonly Dictionary<StoreAddress, GrpcStoreChannel> _channels = [];
    private readonly Lock _lock = new();

    public GrpcClientOptions Options { get; } = options;

    public async ValueTask<IBlobService> OpenBlobServiceAsync(StoreAddress address)
    {
        var channel = Lease(address);
        try
        {
            await ProbeAsync(channel, "BlobService", async (callOptions) =>
                await new BlobService.BlobServiceClient(channel.Channel)
                    .StatAsync(new StatBlobRequest { Digest = B3Digest.Empty.ToByteString() }, callOptions)).ConfigureAwait(false);
            return new GrpcBlobService(channel, ownsChannel: true);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    public async ValueTask<IDirectoryService> OpenDirectoryServiceAsync(StoreAddress address)
    {
        var channel = Lease(address);
        try
        {
            await ProbeAsync(channel, "DirectoryService", async (callOptions) =>
            {
                using var call = new DirectoryService.DirectoryServiceClient(channel.Channel)
                    .Get(new GetDirectoryRequest { Digest = B3Digest.Empty.ToByteString() }, callOptions);
                await call.ResponseStream.MoveNext(callOptions.CancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);
            return new GrpcDirectoryService(channel, ownsChannel: true);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    public async ValueTask<IPathInfoService> OpenPathInfoServiceAsync(StoreAddress address)
    {
        var channel = Lease(address);
        try
        {
            await ProbeAsync(channel, "PathInfoService", async (callOptions) =>
                await new PathInfoService.PathInfoServiceClient(channel.Channel)
                    .GetAsync(new GetPathInfoRequest { ByOutputHash = ByteString.CopyFrom(new byte[StorePathHash.Length]) }, callOptions))
                .ConfigureAwait(false);
            return new GrpcPathInfoService(channel, ownsChannel: true);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    // The opener is synchronous; blocking on the probe is fine at command start (no synchronization context).
    public IBlobService OpenBlobService(StoreAddress address) =>
        OpenBlobServiceAsync(address).AsTask().GetAwaiter().GetResult();

    public IDirectoryService OpenDirectoryService(StoreAddress address) =>
        OpenDirectoryServiceAsync(address).AsTask().GetAwaiter().GetResult();

    public IPathInfoService OpenPathInfoService(StoreAddress address) =>
        OpenPathInfoServiceAsync(address).AsTask().GetAwaiter().GetResult();

    /// <summary>Drops the connector's own hold on the channels; services opened keep theirs.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var channel in _channels.Values)
                channel.Dispose();
            _channels.Clear();
        }
    }

    private GrpcStoreChannel Lease(StoreAddress address)
    {
        lock (_lock)
        {
            if (!_channels.TryGetValue(address, out var channel))
                _channels[address] = channel = GrpcStoreChannel.Open(address, Options);
            return channel.Lease();
        }
    }

    /// <summary>Any answer from the service, NOT_FOUND included, shows it is there.</summary>
    private static async Task ProbeAsync(GrpcStoreChannel channel, string service, Func<CallOptions, Task> call)
    {
        try
        {
            await call(channel.Unary(CancellationToken.None)).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.InvalidArgument)
        {
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
        {
            throw new StoreUnavailableException($"{channel.Address} does not serve the tvix {service}");
        }
        catch (RpcException e)
        {
            string why = e.StatusCode == StatusCode.DeadlineExceeded
                ? $"no answer within {channel.Options.Timeout.TotalSeconds:0.###} s"
                : (e.Status.DebugException?.InnerException?.Message ?? e.Status.DebugException?.Message ?? e.Status.Detail);
            throw new StoreUnavailableException($"cannot reach the store at {channel.Address}: {why}", e);
        }
    }
}
