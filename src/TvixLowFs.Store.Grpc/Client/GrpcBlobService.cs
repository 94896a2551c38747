using System.Runtime.CompilerServices;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Win32.SafeHandles;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Client;

/// <summary>
/// A remote BlobService. The Read RPC has no offset, so <see cref="OpenReadAsync"/> fetches
/// the blob once, verified, into an unlinked local file and serves positional reads (and
/// splices) from it: no request per read, nothing re-downloaded on a backward seek.
/// </summary>
public sealed partial class GrpcBlobService : IBlobService, IBlobStreamSource, IBlobBatchSource, IBlobChunkSource
{
    /// <summary>Put chunks, well below the 4 MiB default message limit.</summary>
    public const int PutChunkSize = 1024 * 1024;

    private readonly GrpcStoreChannel _channel;
    private readonly BlobService.BlobServiceClient _client;
    private readonly CallInvoker _invoker;
    private readonly bool _ownsChannel;

    public GrpcBlobService(GrpcStoreChannel channel, bool ownsChannel = false)
    {
        _channel = channel;
        _invoker = channel.Channel.CreateCallInvoker();
        _client = new BlobService.BlobServiceClient(_invoker);
        _ownsChannel = ownsChannel;
    }

    /// <summary>Where unlinked spool files of fetched blobs are created (when no cache holds them).</summary>
    public string SpoolDirectory { get; init; } = Path.GetTempPath();

    public async ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        if (await StatWithChunksAsync(digest, cancellationToken).ConfigureAwait(false) is not { } response)
            return null;
        if (response.Chunks.Count > 0)
            return ChunkListSize(digest, response);
        // The blob exists but the server gave no chunk list (tvix does so for small blobs):
        // StatBlobResponse has no size, so count the bytes.
        long length = 0;
        try
        {
            await foreach (var chunk in ReadChunksAsync(digest, cancellationToken).ConfigureAwait(false))
                length += chunk.Length;
        }
        catch (StoreNotFoundException)
        {
            return null;
        }
        return length;
    }

    /// <summary>
    /// The blob's chunk list as the server gives it, checked for shape (digests, sizes that add up);
    /// a server that gives none (tvix does so for small blobs) has the blob as its one chunk.
    /// </summary>
    public async ValueTask<IReadOnlyList<BlobChunkInfo>?> StatChunksAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        if (await StatWithChunksAsync(digest, cancellationToken).ConfigureAwait(false) is not { } response)
            return null;
        if (response.Chunks.Count == 0)
            return await StatAsync(digest, cancellationToken).ConfigureAwait(false) is { } size ? [new BlobChunkInfo(digest, size)] : null;
        ChunkListSize(digest, response);
        var chunks = new BlobChunkInfo[response.Chunks.Count];
        for (int i = 0; i < chunks.Length; i++)
            chunks[i] = new BlobChunkInfo(B3Digest.FromBytes(response.Chunks[i].Digest.Span), (long)response.Chunks[i].Size);
        return chunks;
    }

    /// <summary>A large blob the server lists as several chunks is read by ranges (<see cref="ChunkedBlobReader"/>).</summary>
    public ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, long size, CancellationToken cancellationToken = default) =>
        // Each chunk fetched once per use, verified against its own digest; nothing is kept (no cache).
        ChunkedBlobReader.OpenAsync(digest, size, this, token => OpenReadAsync(digest, token),
            async (chunk, token) => await OpenReadAsync(chunk.Digest, token).ConfigureAwait(false)
                ?? throw new StoreUnavailableException($"{_channel.Address}: chunk {chunk.Digest} of blob {digest} is listed but not found"),
            prefetchChunk: null, cancellationToken);

    private async ValueTask<StatBlobResponse?> StatWithChunksAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        try
        {
            return await _client.StatAsync(new StatBlobRequest { Digest = digest.ToByteString(), SendChunks = true },
                _channel.Unary(cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
        catch (RpcException e)
        {
            throw _channel.Translate(e, $"stat blob {digest}", cancellationToken);
        }
    }

    /// <summary>The sum of the listed sizes; a malformed list (bad digest, empty chunk, overflow) is the server's error.</summary>
    private long ChunkListSize(B3Digest digest, StatBlobResponse response)
    {
        ulong size = 0;
        foreach (var chunk in response.Chunks)
        {
            if (chunk.Digest.Length != B3Digest.Length || chunk.Size == 0 || chunk.Size > long.MaxValue - size)
                throw new StoreUnavailableException($"{_channel.Address}: stat blob {digest}: a malformed chunk list (digest of {chunk.Digest.Length} bytes, size {chunk.Size})");
            size += chunk.Size;
        }
        return (long)size;
    }

    public async ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        var file = OpenSpoolFile();
        try
        {
            long length = await BlobFill.ToFileAsync(ReadChunksAsync(digest, cancellationToken), digest, file, cancellationToken)
                .ConfigureAwait(false);
            return new SpooledBlobReader(file, length);
        }
        catch (StoreNotFoundException)
        {
            file.Dispose();
            return null;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadChunksAsync(B3Digest digest,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var progress = new ProgressDeadline(_channel.Options.Timeout, cancellationToken);
        using var call = _invoker.AsyncServerStreamingCall(PooledBlobChunk.ReadMethod, null,
            new CallOptions(cancellationToken: progress.Token), new ReadBlobRequest { Digest = digest.ToByteString() });
        var stream = call.ResponseStream;
        string what = $"read blob {digest}";
        PooledBlobChunk? current = null;
        try
        {
            while (true)
            {
                // The consumer is done with the chunk it was given: its array goes back to the pool.
                current?.Return();
                current = null;
                if (!await _channel.MoveNextAsync(stream, progress, what, cancellationToken).ConfigureAwait(false))
                    yield break;
                current = stream.Current;
                yield return current.Data;
            }
        }
        finally
        {
            current?.Return();
        }
    }

    public BlobWriter OpenWrite() => new GrpcBlobWriter(this);

    public ValueTask DisposeAsync()
    {
        if (_ownsChannel)
            _channel.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>A file that has no name from the start: it vanishes with the handle, whatever happens.</summary>
    private SafeFileHandle OpenSpoolFile()
    {
        string path = Path.Combine(SpoolDirectory, $"tvixlowfs-blob-{Guid.NewGuid():N}");
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        File.Delete(path);
        return handle;
    }

    private sealed class SpooledBlobReader(SafeFileHandle file, long length) : BlobReader
    {
        public override long Length => length;

        public override SafeFileHandle? LocalFile => file;

        public override async ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int total = 0;
            while (total < buffer.Length && offset + total < length)
            {
                int read = await RandomAccess.ReadAsync(file, buffer[total..], offset + total, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                    break;
                total += read;
            }
            return total;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                file.Dispose();
        }
    }

    private sealed class GrpcBlobWriter(GrpcBlobService service) : BlobWriter
    {
        private readonly ClientStreamingPut<BlobChunk, PutBlobResponse> _put = new(service._channel, service._client.Put, "put blob");
        private readonly Blake3Hasher _hasher = new();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_put.Closed, this);
            _hasher.Update(data.Span);
            while (!data.IsEmpty)
            {
                var piece = data[..Math.Min(data.Length, PutChunkSize)];
                await _put.WriteAsync(new BlobChunk { Data = ByteString.CopyFrom(piece.Span) }, cancellationToken).ConfigureAwait(false);
                data = data[piece.Length..];
            }
        }

        public override async ValueTask<B3Digest> CloseAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_put.Closed, this);
            PutBlobResponse response = await _put.CompleteAsync(cancellationToken).ConfigureAwait(false);
            B3Digest sent = _hasher.Finish();
            if (!B3Digest.TryFromBytes(response.Digest.Span, out var stored) || stored != sent)
                throw new StoreUnavailableException($"{service._channel.Address}: put blob: the server answered a digest other than {sent}");
            return sent;
        }

        public override ValueTask DisposeAsync()
        {
            // Cancelling an unfinished put makes the server discard it.
            _put.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
