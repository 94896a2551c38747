using Grpc.Core;
using TvixLowFs.Protos.Extensions;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Client;

// Many blobs per call through our daemon's BlobBatchService extension, when the server has it.
public sealed partial class GrpcBlobService
{
    /// <summary>Set once the server answered UNIMPLEMENTED: it speaks only the tvix protocol (tvix-store, snix-store).</summary>
    private volatile bool _batchUnsupported;

    /// <summary>Whether batched reads may be offered (false once the server has refused them).</summary>
    public bool BatchReadsAvailable => !_batchUnsupported;

    public async Task<bool> ReadBlobsAsync(IReadOnlyList<B3Digest> digests, IBlobBatchSink sink, CancellationToken cancellationToken)
    {
        if (_batchUnsupported)
            return false;
        if (digests.Count == 0)
            return true;
        var request = new ReadBlobsRequest();
        foreach (var digest in digests)
            request.Digests.Add(digest.ToByteString());
        string what = $"read {digests.Count} blobs";

        using var progress = new ProgressDeadline(_channel.Options.Timeout, cancellationToken);
        using var call = new BlobBatchService.BlobBatchServiceClient(_invoker).ReadBlobs(request, new CallOptions(cancellationToken: progress.Token));
        var stream = call.ResponseStream;
        // The server must answer every digest, in order, each blob's parts together.
        int next = 0;
        while (true)
        {
            bool more;
            try
            {
                more = await _channel.MoveNextAsync(stream, progress, what, cancellationToken, passUnimplemented: next == 0).ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
            {
                // An older daemon: the caller falls back to one ReadBlob per digest.
                _batchUnsupported = true;
                return false;
            }
            if (!more)
                break;
            foreach (var part in stream.Current.Parts)
            {
                if (next >= digests.Count || part.Index != (uint)next)
                    throw new StoreUnavailableException($"{_channel.Address}: {what}: the server sent blob {part.Index} where blob {next} was due");
                if (part.Missing)
                {
                    if (!part.Data.IsEmpty || part.Last)
                        throw new StoreUnavailableException($"{_channel.Address}: {what}: blob {next} both missing and sent");
                    sink.Missing(next++);
                    continue;
                }
                sink.Part(next, part.Data.Span, part.Last);
                if (part.Last)
                    next++;
            }
        }
        if (next != digests.Count)
            throw new StoreUnavailableException($"{_channel.Address}: {what}: the server ended after {next} of them");
        return true;
    }
}
