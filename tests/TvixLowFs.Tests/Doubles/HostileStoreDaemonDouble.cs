using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Reliability;

/// <summary>
/// Test double of a hostile tvix daemon: an in-process ASP.NET Core gRPC server on a unix socket,
/// built on the generated service base classes (not on our daemon, which would refuse to serve
/// bad data), answering from a <see cref="HostileCatalogue"/> exactly what it holds: Directories
/// under digests they do not hash to, rule-breaking Directories, blobs with other bytes,
/// PathInfos naming another store path. Unknown objects are NOT_FOUND; writes are refused.
/// </summary>
internal sealed class HostileStoreDaemonDouble : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HostileStoreDaemonDouble(WebApplication app, string directory, string socket)
    {
        _app = app;
        Directory = directory;
        SocketPath = socket;
    }

    public string Directory { get; }
    public string SocketPath { get; }
    public string Address => "grpc+unix://" + SocketPath;

    public static async Task<HostileStoreDaemonDouble> StartAsync(HostileCatalogue catalogue)
    {
        string directory = Path.Combine(Path.GetTempPath(), "tvixlowfs-hostile-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        string socket = Path.Combine(directory, "hostile.sock");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenUnixSocket(socket, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(catalogue);
        builder.Services.AddSingleton<HostileBlobs>();
        builder.Services.AddSingleton<HostileDirectories>();
        builder.Services.AddSingleton<HostilePathInfos>();
        WebApplication app = builder.Build();
        app.MapGrpcService<HostileBlobs>();
        app.MapGrpcService<HostileDirectories>();
        app.MapGrpcService<HostilePathInfos>();
        await app.StartAsync();
        return new HostileStoreDaemonDouble(app, directory, socket);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }

    private static RpcException NotFound(string what) => new(new Status(StatusCode.NotFound, what + " not found"));

    private static B3Digest DigestOf(ByteString bytes) =>
        B3Digest.TryFromBytes(bytes.Span, out B3Digest digest) ? digest : throw new RpcException(new Status(StatusCode.InvalidArgument, "bad digest"));

    private sealed class HostileBlobs(HostileCatalogue catalogue) : BlobService.BlobServiceBase
    {
        public override Task<StatBlobResponse> Stat(StatBlobRequest request, ServerCallContext context)
        {
            if (!catalogue.Blobs.TryGetValue(DigestOf(request.Digest), out byte[]? bytes))
                throw NotFound("blob");
            var response = new StatBlobResponse();
            if (request.SendChunks && bytes.Length > 0)
                response.Chunks.Add(new StatBlobResponse.Types.ChunkMeta { Digest = request.Digest, Size = (ulong)bytes.Length });
            return Task.FromResult(response);
        }

        public override async Task Read(ReadBlobRequest request, IServerStreamWriter<BlobChunk> responseStream, ServerCallContext context)
        {
            if (!catalogue.Blobs.TryGetValue(DigestOf(request.Digest), out byte[]? bytes))
                throw NotFound("blob");
            // Small chunks, so that a client hashing per chunk still sees several.
            for (int offset = 0; offset < bytes.Length; offset += 7)
                await responseStream.WriteAsync(new BlobChunk { Data = ByteString.CopyFrom(bytes, offset, Math.Min(7, bytes.Length - offset)) });
        }
    }

    private sealed class HostileDirectories(HostileCatalogue catalogue) : DirectoryService.DirectoryServiceBase
    {
        public override async Task Get(GetDirectoryRequest request, IServerStreamWriter<Directory> responseStream, ServerCallContext context)
        {
            if (!catalogue.Directories.TryGetValue(DigestOf(request.Digest), out Directory? root))
                throw NotFound("directory");
            await responseStream.WriteAsync(root);
            if (!request.Recursive)
                return;
            // Breadth-first over whatever the served messages name, each once.
            var sent = new HashSet<B3Digest> { DigestOf(request.Digest) };
            var queue = new Queue<Directory>([root]);
            while (queue.TryDequeue(out Directory? directory))
            {
                foreach (DirectoryNode child in directory.Directories)
                {
                    if (!B3Digest.TryFromBytes(child.Digest.Span, out B3Digest digest) || !sent.Add(digest)
                        || !catalogue.Directories.TryGetValue(digest, out Directory? served))
                        continue;
                    await responseStream.WriteAsync(served);
                    queue.Enqueue(served);
                }
            }
        }
    }

    private sealed class HostilePathInfos(HostileCatalogue catalogue) : PathInfoService.PathInfoServiceBase
    {
        public override Task<PathInfo> Get(GetPathInfoRequest request, ServerCallContext context)
        {
            if (request.ByOutputHash.Length != StorePathHash.Length)
                throw new RpcException(new Status(StatusCode.InvalidArgument, "bad hash"));
            return catalogue.PathInfos.TryGetValue(StorePathHash.FromBytes(request.ByOutputHash.Span), out PathInfo? pathInfo)
                ? Task.FromResult(pathInfo)
                : throw NotFound("PathInfo");
        }

        public override async Task List(ListPathInfoRequest request, IServerStreamWriter<PathInfo> responseStream, ServerCallContext context)
        {
            foreach (PathInfo pathInfo in catalogue.PathInfos.Values)
                await responseStream.WriteAsync(pathInfo);
        }
    }
}
