using Grpc.Core;
using Microsoft.Extensions.Logging;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>tvix.castore.v1.DirectoryService over any <see cref="IDirectoryService"/>.</summary>
public sealed class DirectoryServiceEndpoint : DirectoryService.DirectoryServiceBase
{
    private readonly IDirectoryService directories;
    private readonly ILogger<DirectoryServiceEndpoint> logger;
    private readonly DaemonLimits _limits;
    private readonly DaemonWritePolicy _writePolicy;
    private readonly PutStreamSlots _putSlots;

    internal DirectoryServiceEndpoint(IDirectoryService directories, ILogger<DirectoryServiceEndpoint> logger, DaemonLimits limits,
        DaemonWritePolicy writePolicy, PutStreamSlots putSlots)
    {
        this.directories = directories;
        this.logger = logger;
        _limits = limits;
        _writePolicy = writePolicy;
        _putSlots = putSlots;
    }

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
                await responseStream.WriteAsync(directory.Message, context.CancellationToken).ConfigureAwait(false);
                return;
            }
            // The service yields root first, then breadth-first, each once.
            using var stall = ResponseStallTimer.For(context, _limits);
            await foreach (var directory in directories.GetRecursiveAsync(digest, context.CancellationToken).ConfigureAwait(false))
                await stall.WriteAsync(responseStream, directory.Message).ConfigureAwait(false);
        }
        catch (Exception e) { throw Fail(e, context); }
    }

    public override async Task<PutDirectoryResponse> Put(IAsyncStreamReader<Directory> requestStream, ServerCallContext context)
    {
        try
        {
            _writePolicy.Demand(context);
            using var slot = _putSlots.Take();
            using var idle = StreamIdleTimer.ForPut(context, _limits);
            // The putter holds the graph until the stream ends: a rejected stream stores nothing.
            await using var putter = directories.BeginPut();
            bool any = false;
            long graphEntries = 0;
            while (await idle.NextAsync(requestStream).ConfigureAwait(false) is { } directory)
            {
                // Counted before the putter keeps anything, so what a graph holds while it is validated is bounded.
                int entries = directory.Directories.Count + directory.Files.Count + directory.Symlinks.Count;
                if (entries > _limits.MaxDirectoryEntries)
                    throw new StoreLimitExceededException(
                        $"a directory has {entries} entries, more than {_limits.MaxDirectoryEntries} (max-directory-entries); nothing was stored");
                graphEntries += entries + 1;
                if (graphEntries > _limits.MaxDirectoryGraphEntries)
                    throw new StoreLimitExceededException(
                        $"the directory graph has more than {_limits.MaxDirectoryGraphEntries} entries and messages (max-directory-graph-entries); nothing was stored");
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
