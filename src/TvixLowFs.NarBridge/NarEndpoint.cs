using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.NarBridge;

/// <summary>
/// <c>/nar/&lt;store path hash&gt;-&lt;NarHash&gt;.nar</c>: the NAR of a store path, rendered from its
/// blobs and directories as it is sent (<see cref="NarRenderer"/> into a
/// <see cref="NarResponseStream"/>), with its length known up front from the PathInfo and byte ranges
/// answered 206, so curl's resume works. Blobs outside the range asked for are not read.
/// </summary>
internal sealed class NarEndpoint(StoreServices store, ILogger logger)
{
    public const string ContentType = "application/x-nix-nar";

    private const int ChunkSize = 256 * 1024;

    // What a skipped blob is "written" as: the response stream drops it, only its length counts.
    private static readonly byte[] Skipped = new byte[ChunkSize];

    public async Task GetAsync(HttpContext context, BridgeRoute route)
    {
        CancellationToken cancellationToken = context.RequestAborted;
        PathInfo pathInfo = await store.PathInfos.GetAsync(route.StorePathHash, cancellationToken).ConfigureAwait(false)
            ?? throw new RequestRefusedException(StatusCodes.Status404NotFound, "no such store path");
        if (pathInfo.Narinfo is not { } narInfo || !narInfo.NarSha256.Span.SequenceEqual(route.Sha256) || pathInfo.Node is null)
            throw new RequestRefusedException(StatusCodes.Status404NotFound, "the store path has no NAR with this hash");
        long size = (long)narInfo.NarSize;

        var response = context.Response;
        response.Headers.AcceptRanges = "bytes";
        ByteRange? range = ByteRange.Parse(context.Request.Headers.Range, size);
        if (range is { IsUnsatisfiable: true })
        {
            response.Headers.ContentRange = "bytes */" + size.ToString(CultureInfo.InvariantCulture);
            throw new RequestRefusedException(StatusCodes.Status416RangeNotSatisfiable, $"the range starts at or after the NAR's end ({size} bytes)");
        }
        long start = range?.Start ?? 0, end = range?.End ?? size;
        response.ContentType = ContentType;
        response.ContentLength = end - start;
        if (range is not null)
        {
            response.StatusCode = StatusCodes.Status206PartialContent;
            response.Headers.ContentRange = FormattableString.Invariant($"bytes {start}-{end - 1}/{size}");
        }
        if (HttpMethods.IsHead(context.Request.Method))
            return;

        // One recursive get (one round trip to a remote store) before the first byte.
        var graph = new Dictionary<B3Digest, VerifiedDirectory>();
        if (pathInfo.Node.NodeCase == Node.NodeOneofCase.Directory)
        {
            await foreach (VerifiedDirectory directory in store.Directories.GetRecursiveAsync(B3Digest.FromByteString(pathInfo.Node.Directory.Digest), cancellationToken).ConfigureAwait(false))
                graph.TryAdd(directory.Digest, directory);
        }

        var output = new NarResponseStream(response.BodyWriter, start, end);
        var rendering = new Rendering(store.Blobs, output, graph);
        await response.StartAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await NarRenderer.WriteAsync(new NarWriter(output), pathInfo.Node, rendering.GetDirectoryAsync, rendering.WriteBlobAsync, cancellationToken).ConfigureAwait(false);
            if (output.Position != size)
                throw new StoreValidationException($"the rendered NAR has {output.Position} bytes, the PathInfo's NarSize is {size}");
            await output.FlushPipeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The status is sent: all that is left is to cut the response short, so the client sees a truncated body.
            logger.LogWarning("GET {Target}: rendering the NAR failed after {Bytes} bytes, response cut short: {Reason}",
                context.Request.Path.Value, output.Position, e.Message.ReplaceLineEndings(" "));
            context.Abort();
        }
        finally
        {
            rendering.Dispose();
        }
    }

    /// <summary>One response's render: its directories, its output and one buffer, reused for every chunk of every blob.</summary>
    private sealed class Rendering(IBlobService blobs, NarResponseStream output, Dictionary<B3Digest, VerifiedDirectory> graph) : IDisposable
    {
        private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);

        public ValueTask<VerifiedDirectory?> GetDirectoryAsync(B3Digest digest, CancellationToken cancellationToken)
        {
            var directory = graph.GetValueOrDefault(digest);
            // A tree of many small entries has no file contents to flush on: flush between directories too.
            ValueTask flush = output.FlushIfFullAsync(cancellationToken);
            return flush.IsCompletedSuccessfully ? ValueTask.FromResult(directory) : AfterFlushAsync(flush, directory);
        }

        private static async ValueTask<VerifiedDirectory?> AfterFlushAsync(ValueTask flush, VerifiedDirectory? directory)
        {
            await flush.ConfigureAwait(false);
            return directory;
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        public async ValueTask WriteBlobAsync(B3Digest digest, ulong size, NarWriter writer, CancellationToken cancellationToken)
        {
            if (output.Skips(size))
            {
                for (ulong left = size; left > 0;)
                {
                    int n = (int)Math.Min(left, (ulong)Skipped.Length);
                    writer.WriteFileContents(Skipped.AsSpan(0, n));
                    left -= (ulong)n;
                }
                return;
            }
            byte[] buffer = _buffer ?? throw new ObjectDisposedException(nameof(Rendering));
            using BlobReader reader = await blobs.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false)
                ?? throw new StoreNotFoundException($"blob {digest} is not in the store");
            if ((ulong)reader.Length != size)
                throw new StoreValidationException($"blob {digest} has {reader.Length} bytes, its file node says {size}");
            for (long offset = 0; offset < reader.Length;)
            {
                int want = (int)Math.Min(ChunkSize, reader.Length - offset);
                Memory<byte> into = output.MemoryFor(want, buffer);
                int read = await reader.ReadAtAsync(offset, into, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                    throw new StoreUnavailableException($"blob {digest} ended at byte {offset} of {reader.Length}");
                // Synchronous: the bytes are in the pipe's memory already (or copied there); the flush is ours.
                writer.WriteFileContents(into.Span[..read]);
                await output.FlushIfFullAsync(cancellationToken).ConfigureAwait(false);
                offset += read;
            }
        }

        public void Dispose()
        {
            if (_buffer is not null)
                ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }
}
