using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using TvixLowFs.Protos.Extensions;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// tvixlowfs.castore.v1.BlobBatchService over any <see cref="IBlobService"/>: many blobs per
/// call, several small ones packed into one message (see protos/tvixlowfs/blob_batch.proto).
/// </summary>
public sealed class BlobBatchEndpoint(IBlobService blobs, ILogger<BlobBatchEndpoint> logger, DaemonLimits limits) : BlobBatchService.BlobBatchServiceBase
{
    /// <summary>Digests one call may ask for.</summary>
    public const int MaxDigests = 4096;

    /// <summary>
    /// The largest request the daemon reads for this service: MaxDigests digests of 32 bytes (each a
    /// field tag and a length byte ahead of it), so a request naming more is refused by its size,
    /// RESOURCE_EXHAUSTED, before it is parsed into memory.
    /// </summary>
    public const int MaxRequestBytes = MaxDigests * (32 + 2) + 64;

    /// <summary>Bytes of blob data one response message carries at most (its parts are slices of one pooled buffer).</summary>
    public const int MessageBytes = 1024 * 1024;

    /// <summary>A part never carries more than this, so a large blob is sent as it is read.</summary>
    public const int PartBytes = BlobServiceEndpoint.ReadChunkSize;

    /// <summary>
    /// Blobs opened ahead of the one being sent, each local one announced to the disk (posix_fadvise
    /// WILLNEED): a tree's small files are then read from disk many at once instead of one after
    /// another, each read waiting for the one before.
    /// </summary>
    public const int OpenAhead = 32;

    public override async Task ReadBlobs(ReadBlobsRequest request, IServerStreamWriter<ReadBlobsResponse> responseStream, ServerCallContext context)
    {
        try
        {
            if (request.Digests.Count > MaxDigests)
                throw RpcErrors.InvalidArgument($"at most {MaxDigests} digests per call, asked for {request.Digests.Count}");
            var digests = new Model.B3Digest[request.Digests.Count];
            for (int i = 0; i < digests.Length; i++)
                digests[i] = RpcErrors.ParseDigest(request.Digests[i], $"digests[{i}]");

            CancellationToken cancellation = context.CancellationToken;
            // A client that stops reading frees its open blobs within stream-idle-timeout, as with Read.
            using var stall = ResponseStallTimer.For(context, limits);
            byte[] buffer = ArrayPool<byte>.Shared.Rent(MessageBytes);
            var readers = new BlobReader?[digests.Length];
            int opened = 0;
            try
            {
                var response = new ReadBlobsResponse();
                int used = 0;
                for (int index = 0; index < digests.Length; index++)
                {
                    for (; opened < digests.Length && opened <= index + OpenAhead; opened++)
                    {
                        BlobReader? ahead = await blobs.OpenReadAsync(digests[opened], cancellation).ConfigureAwait(false);
                        if (ahead?.LocalFile is { } file && ahead.Length > 0)
                            _ = Interop.Libc.PosixFadvise(file, 0, Math.Min(ahead.Length, BlobServiceEndpoint.ReadAheadBytes), Interop.Libc.POSIX_FADV_WILLNEED); // best effort: the disk works while we send
                        readers[opened] = ahead;
                    }
                    using var reader = readers[index];
                    readers[index] = null;
                    if (reader is null)
                    {
                        response.Parts.Add(new BlobPart { Index = (uint)index, Missing = true });
                        continue;
                    }
                    long offset = 0;
                    do
                    {
                        if (used == MessageBytes)
                        {
                            await stall.WriteAsync(responseStream, response).ConfigureAwait(false);
                            response = new ReadBlobsResponse();
                            used = 0;
                        }
                        int want = (int)Math.Min(Math.Min(MessageBytes - used, PartBytes), reader.Length - offset);
                        int read = want == 0 ? 0 : await reader.ReadAtAsync(offset, buffer.AsMemory(used, want), cancellation).ConfigureAwait(false);
                        if (want > 0 && read == 0)
                            throw new StoreUnavailableException($"blob {digests[index]} ended early at {offset} of {reader.Length} bytes");
                        offset += read;
                        // The message is serialized before the next one is started, so its parts may point into the buffer.
                        response.Parts.Add(new BlobPart
                        {
                            Index = (uint)index,
                            Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(used, read)),
                            Last = offset == reader.Length,
                        });
                        used += read;
                    }
                    while (offset < reader.Length);
                }
                if (response.Parts.Count > 0)
                    await stall.WriteAsync(responseStream, response).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
                foreach (BlobReader? left in readers)
                    left?.Dispose();
            }
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
