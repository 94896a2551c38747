using Grpc.Core;
using Microsoft.Extensions.Logging;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>tvix.castore.v1.DirectoryService over any <see cref="IDirectoryService"/>.</summary>
public sealed class DirectoryServiceEndpoint(IDirectoryService directories, ILogger<DirectoryServiceEndpoint> logger) : DirectoryService.DirectoryServiceBase
{
    public override async Task Get(GetDirectoryRequest request, IServerStreamWriter<Directory> responseStream, ServerCallContext context)
    {
        try
        {
            if (request.ByWhatCase != GetDirectoryRequest.ByWhatOneofCase.Digest)
                throw RpcErrors.InvalidArgument("by_what must be set (digest)");
            var digest = RpcErrors.ParseDigest(request.Digest, "digest");
            if (!request.Recursive)
            {
                var directory = await directories.GetAsync(digest, context.CancellationToken).ConfigureAwait(false)
                    ?? throw RpcErrors.NotFound($"directory {digest} not found");
                await responseStream.WriteAsync(directory, context.CancellationToken).ConfigureAwait(false);
                return;
            }
            // The service yields root first, then breadth-first, each once.
            await foreach (var directory in directories.GetRecursiveAsync(digest, context.CancellationToken).ConfigureAwait(false))
                await responseStream.WriteAsync(directory, context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) { throw Fail(e, context); }
    }

    public override async Task<PutDirectoryResponse> Put(IAsyncStreamReader<Directory> requestStream, ServerCallContext context)
    {
        try
        {
            // The putter holds the graph until the stream ends: a rejected stream stores nothing.
            await using var putter = directories.BeginPut();
            bool any = false;
            await foreach (var directory in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
            {
                // The putter validates each message as it arrives (rules, children sent or stored, sizes).
                await putter.PutAsync(directory, context.CancellationToken).ConfigureAwait(false);
                any = true;
            }
            if (!any)
                throw RpcErrors.InvalidArgument("the stream held no directory");
            var root = await putter.CloseAsync(context.CancellationToken).ConfigureAwait(false);
            return new PutDirectoryResponse { RootDigest = root.ToByteString() };
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
