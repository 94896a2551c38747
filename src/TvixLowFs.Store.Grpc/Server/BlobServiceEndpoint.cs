using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>tvix.castore.v1.BlobService over any <see cref="IBlobService"/>.</summary>
public sealed class BlobServiceEndpoint : BlobService.BlobServiceBase
{
    private readonly IBlobService blobs;
    private readonly ILogger<BlobServiceEndpoint> logger;
    private readonly DaemonLimits _limits;
    private readonly DaemonWritePolicy _writePolicy;
    private readonly PutStreamSlots _putSlots;

    internal BlobServiceEndpoint(IBlobService blobs, ILogger<BlobServiceEndpoint> logger, DaemonLimits limits, DaemonWritePolicy writePolicy, PutStreamSlots putSlots)
    {
        this.blobs = blobs;
        this.logger = logger;
        _limits = limits;
        _writePolicy = writePolicy;
        _putSlots = putSlots;
    }

    /// <summary>Read chunks stay far below the 4 MiB default message limit of every gRPC implementation.</summary>
    public const int ReadChunkSize = 256 * 1024;

    /// <summary>
    /// How far ahead of what is being sent a local blob's pages are asked for (posix_fadvise
    /// WILLNEED), so the disk reads while the chunks before go out instead of one chunk at a time.
    /// </summary>
    public const long ReadAheadBytes = 8L << 20;

    public override async Task<StatBlobResponse> Stat(StatBlobRequest request, ServerCallContext context)
    {
        try
        {
            var digest = RpcErrors.ParseDigest(request.Digest, "digest");
            var response = new StatBlobResponse();
            if (request.SendChunks && blobs is IBlobChunkSource chunked)
            {
                // A store that cuts blobs answers its chunks; each is readable by its own digest.
                IReadOnlyList<BlobChunkInfo> chunks = await chunked.StatChunksAsync(digest, context.CancellationToken).ConfigureAwait(false)
                    ?? throw RpcErrors.NotFound($"blob {digest} not found");
                foreach (BlobChunkInfo chunk in chunks)
                    response.Chunks.Add(new StatBlobResponse.Types.ChunkMeta { Digest = chunk.Digest.ToByteString(), Size = (ulong)chunk.Size });
                return response;
            }
            long size = await blobs.StatAsync(digest, context.CancellationToken).ConfigureAwait(false)
                ?? throw RpcErrors.NotFound($"blob {digest} not found");
            // A store that does not chunk: the one chunk is the blob itself, which carries the size
            // (StatBlobResponse has no size field of its own).
            if (request.SendChunks && size > 0)
                response.Chunks.Add(new StatBlobResponse.Types.ChunkMeta { Digest = request.Digest, Size = (ulong)size });
            return response;
        }
        catch (Exception e) { throw Fail(e, context); }
    }

    public override async Task Read(ReadBlobRequest request, IServerStreamWriter<BlobChunk> responseStream, ServerCallContext context)
    {
        try
        {
            var digest = RpcErrors.ParseDigest(request.Digest, "digest");
            using var reader = await blobs.OpenReadAsync(digest, context.CancellationToken).ConfigureAwait(false)
                ?? throw RpcErrors.NotFound($"blob {digest} not found");
            using var stall = ResponseStallTimer.For(context, _limits);
            byte[] buffer = ArrayPool<byte>.Shared.Rent(ReadChunkSize);
            try
            {
                long offset = 0;
                long advised = 0;
                while (offset < reader.Length)
                {
                    if (reader.Length > ReadChunkSize && reader.LocalFile is { } file && advised < reader.Length && advised - offset < ReadAheadBytes / 2)
                    {
                        long end = Math.Min(reader.Length, offset + ReadAheadBytes);
                        _ = Interop.Libc.PosixFadvise(file, advised, end - advised, Interop.Libc.POSIX_FADV_WILLNEED); // best effort: the disk works while we send
                        advised = end;
                    }
                    int read = await reader.ReadAtAsync(offset, buffer.AsMemory(0, ReadChunkSize), context.CancellationToken).ConfigureAwait(false);
                    if (read == 0)
                        throw new StoreUnavailableException($"blob {digest} ended early at {offset} of {reader.Length} bytes");
                    // The writer serializes the message before WriteAsync completes, so the buffer may be reused.
                    await stall.WriteAsync(responseStream, new BlobChunk { Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, read)) }).ConfigureAwait(false);
                    offset += read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (Exception e) { throw Fail(e, context); }
    }

    public override async Task<PutBlobResponse> Put(IAsyncStreamReader<BlobChunk> requestStream, ServerCallContext context)
    {
        BlobWriter? writer = null;
        try
        {
            _writePolicy.Demand(context);
            using var slot = _putSlots.Take();
            using var idle = StreamIdleTimer.ForPut(context, _limits);
            long received = 0;
            while (await idle.NextAsync(requestStream).ConfigureAwait(false) is { } chunk)
            {
                received += chunk.Data.Length;
                if (received > _limits.MaxBlobBytes)
                    throw new StoreLimitExceededException($"the blob is larger than {_limits.MaxBlobBytes} bytes (max-blob-bytes); nothing was stored");
                if (chunk.Data.IsEmpty)
                    continue;
                // Opened on the first bytes, so a stream that sends nothing holds no temp file.
                writer ??= blobs.OpenWrite();
                await writer.WriteAsync(chunk.Data.Memory, context.CancellationToken).ConfigureAwait(false);
            }
            writer ??= blobs.OpenWrite();
            // The digest comes from the bytes received, never from the client.
            var digest = await writer.CloseAsync(context.CancellationToken).ConfigureAwait(false);
            return new PutBlobResponse { Digest = digest.ToByteString() };
        }
        catch (Exception e) { throw Fail(e, context); }
        finally
        {
            // An unclosed writer discards what it held.
            if (writer is not null)
                await writer.DisposeAsync().ConfigureAwait(false);
        }
    }

    private RpcException Fail(Exception e, ServerCallContext context)
    {
        if (RpcErrors.IsUnexpected(e))
            logger.LogWarning(e, "{Method} failed", context.Method);
        return RpcErrors.Map(e, context);
    }
}
