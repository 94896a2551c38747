using Microsoft.Win32.SafeHandles;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Caching;

// Many blobs fetched into the cache with one call, when the remote streams batches.
public sealed partial class CachingBlobService
{
    /// <summary>Blobs asked for in one batched call at most.</summary>
    public const int MaxBatchBlobs = 256;

    /// <summary>Fetches that run at once when the remote has no batched reads.</summary>
    private const int UnbatchedConcurrency = 4;

    private int _blobsFetchedInBatches;

    /// <summary>Blobs verified and kept from batched calls (for tests: the batches were used).</summary>
    internal int BlobsFetchedInBatches => Volatile.Read(ref _blobsFetchedInBatches);

    public async Task<int> PrefetchManyAsync(IReadOnlyList<B3Digest> digests, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        int failed = 0;
        for (int start = 0; start < digests.Count; start += MaxBatchBlobs)
        {
            var claimed = Claim(digests, start, Math.Min(digests.Count, start + MaxBatchBlobs));
            if (claimed.Count == 0)
                continue;
            // Like a single fill, the fetch is not the waiter's to cancel: opens may be waiting on it.
            Task<int> batch = FetchBatchAsync(claimed);
            failed += await batch.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        return failed;
    }

    /// <summary>
    /// Takes the fill slots of the digests in [start, end) that are neither held nor being fetched,
    /// so an open of one of them meanwhile waits for this batch instead of fetching it again.
    /// </summary>
    private List<(B3Digest Digest, TaskCompletionSource<bool> Completion, Lazy<Task<bool>> Slot)> Claim(IReadOnlyList<B3Digest> digests, int start, int end)
    {
        var claimed = new List<(B3Digest, TaskCompletionSource<bool>, Lazy<Task<bool>>)>();
        for (int i = start; i < end; i++)
        {
            B3Digest digest = digests[i];
            // The caller asked IsHeld a moment ago (the readahead does): known or pending is enough here.
            if (_fills.ContainsKey(digest) || _pending.ContainsKey(digest) || _knownHeld.ContainsKey(HeldKey(digest)))
                continue;
            var completion = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var slot = new Lazy<Task<bool>>(() => completion.Task);
            _ = slot.Value;
            if (_fills.TryAdd(digest, slot))
                claimed.Add((digest, completion, slot));
        }
        return claimed;
    }

    /// <summary>
    /// One batched call for the claimed digests when the remote streams batches into a cache store;
    /// whatever that did not settle (no batches, the server lacks the extension, or the call failed
    /// part way) is fetched blob by blob. Returns how many are not held.
    /// </summary>
    private async Task<int> FetchBatchAsync(List<(B3Digest Digest, TaskCompletionSource<bool> Completion, Lazy<Task<bool>> Slot)> claimed)
    {
        await Task.Yield();
        if (Remote is IBlobBatchSource source)
        {
            var digests = new B3Digest[claimed.Count];
            for (int i = 0; i < digests.Length; i++)
                digests[i] = claimed[i].Digest;
            var sink = new CacheFileSink(this, _cacheStore, claimed);
            try
            {
                await source.ReadBlobsAsync(digests, sink, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Left to the blob-by-blob fetches below, which report their own failures to their waiters.
            }
            finally
            {
                sink.AbandonUnfinished();
            }
        }

        // A few at once, in order: an open may be waiting for any of them.
        var unsettled = claimed.FindAll(item => !item.Completion.Task.IsCompleted);
        if (unsettled.Count > 0)
        {
            await Parallel.ForEachAsync(unsettled, new ParallelOptions { MaxDegreeOfParallelism = UnbatchedConcurrency },
                async (item, _) =>
                {
                    try
                    {
                        item.Completion.TrySetResult(await FetchAsync(item.Digest, _stopping.Token).ConfigureAwait(false));
                    }
                    catch (Exception e)
                    {
                        item.Completion.TrySetException(e);
                    }
                }).ConfigureAwait(false);
        }

        int failed = 0;
        foreach (var (digest, completion, slot) in claimed)
        {
            if (!completion.Task.IsCompletedSuccessfully || !completion.Task.Result)
                failed++;
            // A failed fetch is retried by the next reader; a finished one is now local.
            _fills.TryRemove(new KeyValuePair<B3Digest, Lazy<Task<bool>>>(digest, slot));
        }
        return failed;
    }

    /// <summary>
    /// Writes each blob of a batch into its own temp file of the cache store while hashing it, and
    /// settles its waiters when it ends: served from then on if it matches its digest, deleted if not.
    /// </summary>
    private sealed class CacheFileSink(CachingBlobService cache, LocalStore store,
        List<(B3Digest Digest, TaskCompletionSource<bool> Completion, Lazy<Task<bool>> Slot)> claimed) : IBlobBatchSink
    {
        private int _index = -1;
        private string? _tempPath;
        private SafeFileHandle? _file;
        // One hasher for the whole batch, reset at each blob's first part.
        private readonly Blake3Hasher _hasher = new();
        private long _length;

        public void Part(int index, ReadOnlySpan<byte> data, bool last)
        {
            if (index != _index)
                Begin(index);
            _hasher.Update(data);
            try
            {
                RandomAccess.Write(_file!, data, _length);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw store.Failure($"writing blob {claimed[index].Digest}", e);
            }
            _length += data.Length;
            if (last)
                Finish();
        }

        public void Missing(int index) => claimed[index].Completion.TrySetResult(false);

        private void Begin(int index)
        {
            AbandonUnfinished();
            _index = index;
            _length = 0;
            _hasher.Reset();
            try
            {
                (_tempPath, _file) = store.CreateTempFile("blob");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _index = -1;
                throw store.Failure("starting a blob", e);
            }
        }

        private void Finish()
        {
            var (digest, completion, _) = claimed[_index];
            string tempPath = _tempPath!;
            bool handedOver = false;
            try
            {
                BlobFill.Verify(_hasher, digest, _length);
                // Closing unlocks it, so readers (here and in other processes) can open it shared.
                _file!.Dispose();
                handedOver = cache.HandOver(store, digest, tempPath);
                Interlocked.Increment(ref cache._blobsFetchedInBatches);
                completion.TrySetResult(true);
            }
            catch (StoreValidationException e)
            {
                completion.TrySetException(e);
            }
            finally
            {
                Close(deleteFile: !handedOver);
            }
        }

        /// <summary>Drops the blob being written, if any (the call ended before its last part).</summary>
        public void AbandonUnfinished()
        {
            if (_index >= 0)
                Close(deleteFile: true);
        }

        private void Close(bool deleteFile)
        {
            _file?.Dispose();
            if (deleteFile && _tempPath is not null)
                CachePublisher.TryDelete(_tempPath);
            _file = null;
            _tempPath = null;
            _index = -1;
        }
    }
}
