using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// tvix.store.v1.PathInfoService over any <see cref="IPathInfoService"/>. CalculateNAR runs here, over
/// the daemon's own blob and directory services, so its work is bounded (max-nar-entries) whatever
/// the PathInfo backend.
/// </summary>
public sealed class PathInfoServiceEndpoint : PathInfoService.PathInfoServiceBase
{
    private readonly IPathInfoService pathInfos;
    private readonly ILogger<PathInfoServiceEndpoint> logger;
    private readonly DaemonLimits _limits;
    private readonly DaemonWritePolicy _writePolicy;
    private readonly NarCalculator _narCalculator;

    internal PathInfoServiceEndpoint(IPathInfoService pathInfos, NarCalculator narCalculator, ILogger<PathInfoServiceEndpoint> logger,
        DaemonLimits limits, DaemonWritePolicy writePolicy)
    {
        this.pathInfos = pathInfos;
        this.logger = logger;
        _narCalculator = narCalculator;
        _limits = limits;
        _writePolicy = writePolicy;
    }

    public override async Task<PathInfo> Get(GetPathInfoRequest request, ServerCallContext context)
    {
        try
        {
            if (request.ByWhatCase != GetPathInfoRequest.ByWhatOneofCase.ByOutputHash)
                throw RpcErrors.InvalidArgument("by_what must be set (by_output_hash)");
            if (request.ByOutputHash.Length != StorePathHash.Length)
                throw RpcErrors.InvalidArgument($"by_output_hash must be {StorePathHash.Length} bytes, got {request.ByOutputHash.Length}");
            var hash = StorePathHash.FromBytes(request.ByOutputHash.Span);
            return await pathInfos.GetAsync(hash, context.CancellationToken).ConfigureAwait(false)
                ?? throw RpcErrors.NotFound($"no PathInfo for hash {hash.ToHex()}");
        }
        catch (Exception e) { throw Fail(e, context); }
    }

    public override async Task<PathInfo> Put(PathInfo request, ServerCallContext context)
    {
        try
        {
            _writePolicy.Demand(context);
            if (request.References.Count > _limits.MaxReferences)
                throw new StoreLimitExceededException(
                    $"the PathInfo has {request.References.Count} references, more than {_limits.MaxReferences} (max-references); nothing was stored");
            int referenceNames = request.Narinfo?.ReferenceNames.Count ?? 0;
            if (referenceNames > _limits.MaxReferences)
                throw new StoreLimitExceededException(
                    $"the PathInfo has {referenceNames} reference names, more than {_limits.MaxReferences} (max-references); nothing was stored");
            int signatures = request.Narinfo?.Signatures.Count ?? 0;
            if (signatures > _limits.MaxSignatures)
                throw new StoreLimitExceededException(
                    $"the PathInfo has {signatures} signatures, more than {_limits.MaxSignatures} (max-signatures); nothing was stored");
            PathInfoRules.Validate(request);
            return await pathInfos.PutAsync(request, context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) { throw Fail(e, context); }
    }

    public override async Task<CalculateNARResponse> CalculateNAR(Node request, ServerCallContext context)
    {
        try
        {
            if (request.NodeCase == Node.NodeOneofCase.None)
                throw RpcErrors.InvalidArgument("node must be set");
            // The node's own name does not enter the NAR (tvix clients send an empty one).
            DirectoryRules.ValidateNode(request, requireName: false);
            var nar = await _narCalculator.CalculateAsync(request, context.CancellationToken).ConfigureAwait(false);
            return new CalculateNARResponse { NarSize = nar.NarSize, NarSha256 = ByteString.CopyFrom(nar.NarSha256) };
        }
        catch (Exception e) { throw Fail(e, context); }
    }

    public override async Task List(ListPathInfoRequest request, IServerStreamWriter<PathInfo> responseStream, ServerCallContext context)
    {
        try
        {
            using var stall = ResponseStallTimer.For(context, _limits);
            await foreach (var pathInfo in pathInfos.ListAsync(context.CancellationToken).ConfigureAwait(false))
                await stall.WriteAsync(responseStream, pathInfo).ConfigureAwait(false);
        }
        catch (Exception e) { throw Fail(e, context); }
    }

    private RpcException Fail(Exception e, ServerCallContext context)
    {
        if (RpcErrors.IsUnexpected(e))
            logger.LogWarning(e, "{Method} failed", context.Method);
        return RpcErrors.Map(e, context);
    }
}
