using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>
/// Cuts the bytes written into FastCDC chunks as they arrive and uploads each (compressed, unless
/// the bucket has it already) while the next is cut; close waits for them, then writes the chunk
/// list. A writer disposed unclosed leaves at most chunks nothing lists: harmless, content-addressed.
/// </summary>
internal sealed class ObjectStoreBlobWriter(ObjectStoreBlobService service) : BlobWriter
{
    private const int CompressionLevel = 3;

    private readonly Blake3Hasher _hasher = new();
    private readonly byte[] _pending = new byte[service.Chunker.Maximum * 2];
    private readonly List<ChunkMeta> _chunks = [];
    private readonly List<Task> _uploads = [];
    private readonly SemaphoreSlim _uploadSlots = new(ObjectStoreBlobService.ParallelTransfers);
    private readonly CancellationTokenSource _abandon = new();
    private int _pendingLength;
    private bool _done;

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        _hasher.Update(data.Span);
        while (!data.IsEmpty)
        {
            int take = Math.Min(data.Length, _pending.Length - _pendingLength);
            data.Span[..take].CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += take;
            data = data[take..];
            // Cut only with a maximum chunk ahead, so a cut point never depends on how writes were split.
            while (_pendingLength >= service.Chunker.Maximum)
                await EmitChunkAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override async ValueTask<B3Digest> CloseAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        _done = true;
        try
        {
            while (_pendingLength > 0)
                await EmitChunkAsync(cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(_uploads).ConfigureAwait(false);
            B3Digest digest = _hasher.Finish();
            // Last: the chunk list names only chunks already in the bucket.
            await service.Bucket.PutAsync(ObjectKeys.Blob(service.Bucket.Prefix, digest), ChunkList.Encode(_chunks), cancellationToken).ConfigureAwait(false);
            return digest;
        }
        finally
        {
            await _abandon.CancelAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask EmitChunkAsync(CancellationToken cancellationToken)
    {
        int length = service.Chunker.Cut(_pending.AsSpan(0, _pendingLength));
        byte[] chunk = _pending.AsSpan(0, length).ToArray();
        _pending.AsSpan(length, _pendingLength - length).CopyTo(_pending);
        _pendingLength -= length;
        B3Digest digest = B3Digest.Compute(chunk);
        _chunks.Add(new ChunkMeta(digest, length));
        // A failed upload surfaces at close; stop queueing more once one has failed.
        foreach (Task upload in _uploads)
        {
            if (upload.IsFaulted)
                await upload.ConfigureAwait(false);
        }
        await _uploadSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        _uploads.Add(Task.Run(async () =>
        {
            try
            {
                await UploadChunkAsync(digest, chunk, _abandon.Token).ConfigureAwait(false);
            }
            finally
            {
                _uploadSlots.Release();
            }
        }, CancellationToken.None));
    }

    private async Task UploadChunkAsync(B3Digest digest, byte[] chunk, CancellationToken cancellationToken)
    {
        string key = ObjectKeys.Chunk(service.Bucket.Prefix, digest);
        if (await service.Bucket.ExistsAsync(key, cancellationToken).ConfigureAwait(false))
            return;
        byte[] compressed;
        using (var compressor = new ZstdSharp.Compressor(CompressionLevel))
            compressed = compressor.Wrap(chunk).ToArray();
        await service.Bucket.PutAsync(key, compressed, cancellationToken).ConfigureAwait(false);
    }

    public override async ValueTask DisposeAsync()
    {
        _done = true;
        await _abandon.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_uploads).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or StoreUnavailableException)
        {
            // abandoned: nothing names these chunks
        }
        _abandon.Dispose();
        _uploadSlots.Dispose();
    }
}
