using System.Runtime.CompilerServices;
using Google.Protobuf;
using Grpc.Core;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Client;

/// <summary>A remote PathInfoService.</summary>
public sealed class GrpcPathInfoService : IPathInfoService
{
    private readonly GrpcStoreChannel _channel;
    private readonly PathInfoService.PathInfoServiceClient _client;
    private readonly bool _ownsChannel;

    public GrpcPathInfoService(GrpcStoreChannel channel, bool ownsChannel = false)
    {
        _channel = channel;
        _client = new PathInfoService.PathInfoServiceClient(channel.Channel);
        _ownsChannel = ownsChannel;
    }

    public async ValueTask<PathInfo?> GetAsync(StorePathHash hash, CancellationToken cancellationToken = default)
    {
        PathInfo pathInfo;
        try
        {
            pathInfo = await _client.GetAsync(new GetPathInfoRequest { ByOutputHash = UnsafeByteOperations.UnsafeWrap(hash.ToArray()) },
                _channel.Unary(cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
        catch (RpcException e)
        {
            throw _channel.Translate(e, $"get PathInfo {hash.ToHex()}", cancellationToken);
        }
        // A PathInfo that is not the one asked for would mount the wrong tree under the name; as
        // on every other backend (README, DESIGN) the path asked for is then absent, not an error.
        var path = PathInfoRules.Validate(pathInfo);
        return path.Hash == hash ? pathInfo : null;
    }

    public async ValueTask<PathInfo> PutAsync(PathInfo pathInfo, CancellationToken cancellationToken = default)
    {
        PathInfoRules.Validate(pathInfo);
        try
        {
            return await _client.PutAsync(pathInfo, _channel.Unary(cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw _channel.Translate(e, "put PathInfo", cancellationToken);
        }
    }

    public async IAsyncEnumerable<PathInfo> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var progress = new ProgressDeadline(_channel.Options.Timeout, cancellationToken);
        using var call = _client.List(new ListPathInfoRequest(), new CallOptions(cancellationToken: progress.Token));
        while (await _channel.MoveNextAsync(call.ResponseStream, progress, "list PathInfos", cancellationToken).ConfigureAwait(false))
            yield return call.ResponseStream.Current;
    }

    public async ValueTask<NarHash> CalculateNarAsync(Node node, CancellationToken cancellationToken = default)
    {
        CalculateNARResponse response;
        try
        {
            response = await _client.CalculateNARAsync(node, _channel.Unary(cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw _channel.Translate(e, "calculate NAR", cancellationToken);
        }
        if (response.NarSha256.Length != 32)
            throw new StoreValidationException($"{_channel.Address}: calculate NAR: nar_sha256 is {response.NarSha256.Length} bytes, not 32");
        return new NarHash(response.NarSize, response.NarSha256.ToByteArray());
    }

    public ValueTask DisposeAsync()
    {
        if (_ownsChannel)
            _channel.Dispose();
        return ValueTask.CompletedTask;
    }
}
