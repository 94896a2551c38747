using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Nar;

/// <summary>
/// Closes blob writers off the reading thread, a bounded number at a time, and fills each file
/// node's digest when its close returns. A local blob's close is an fsync, a rename and a directory
/// fsync, all synchronous: done inline they would leave the NAR reader idle for most of a tree of
/// small files, and on the thread pool they would block its few threads. So closes run on up to
/// <c>limit</c> dedicated threads, started as they are needed and ended by <see cref="Dispose"/>;
/// a close that is really asynchronous (a remote store) only starts on one and finishes on its own.
/// </summary>
internal sealed class BlobCloseQueue : IDisposable
{
    private sealed class Job(BlobWriter writer, FileNode node, CancellationToken cancellationToken)
    {
        public BlobWriter Writer { get; } = writer;
        public FileNode Node { get; } = node;
        public CancellationToken CancellationToken { get; } = cancellationToken;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public long Sequence { get; init; }
    }

    private readonly int _limit;
    private readonly Queue<Job> _started = new();   // in start order; at most _limit entries
    private readonly System.Collections.Concurrent.BlockingCollection<Job> _jobs = new();
    private int _threads;
    private int _idle;
    private long _sequence;

    public BlobCloseQueue(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        _limit = limit;
    }

    /// <summary>The sequence number the next close will get: closes from here on belong to what is read next.</summary>
    public long Mark => _sequence;

    /// <summary>Hands a written blob over to be closed; waits first while <c>limit</c> closes are still running.</summary>
    public async ValueTask StartAsync(BlobWriter writer, FileNode node, CancellationToken cancellationToken)
    {
        try
        {
            while (_started.Count > 0 && _started.Peek().Done.Task.IsCompleted)
                await _started.Dequeue().Done.Task.ConfigureAwait(false);
            if (_started.Count >= _limit)
                await _started.Dequeue().Done.Task.ConfigureAwait(false);
        }
        catch
        {
            // An earlier close failed: this writer never reaches a worker, so it is discarded here.
            await writer.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var job = new Job(writer, node, cancellationToken) { Sequence = _sequence++ };
        _started.Enqueue(job);
        if (Volatile.Read(ref _idle) == 0 && _threads < _limit)
        {
            _threads++;
            new Thread(Work) { IsBackground = true, Name = "nar-blob-close" }.Start();
        }
        // Added after the thread decision so that a worker that just went idle picks it up.
        _jobs.Add(job, CancellationToken.None);
    }

    /// <summary>Waits for every close started at or after <paramref name="mark"/>; their nodes have digests then.</summary>
    public async ValueTask CompleteFromAsync(long mark)
    {
        foreach (Job job in _started.ToArray())
        {
            if (job.Sequence >= mark)
                await job.Done.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Waits for every close started, failed ones included, without throwing (the cleanup after a failure).</summary>
    public async ValueTask DrainAsync()
    {
        while (_started.TryDequeue(out Job? job))
        {
            try
            {
                await job.Done.Task.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The ingest already failed; this blob's own error adds nothing.
            }
        }
    }

    public void Dispose() => _jobs.CompleteAdding();

    private void Work()
    {
        while (true)
        {
            Interlocked.Increment(ref _idle);
            bool taken;
            Job? job;
            try
            {
                taken = _jobs.TryTake(out job, Timeout.Infinite);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            finally
            {
                Interlocked.Decrement(ref _idle);
            }
            if (!taken || job is null)
                return;
            Close(job);
        }
    }

    private static void Close(Job job)
    {
        ValueTask<B3Digest> closing;
        try
        {
            closing = job.Writer.CloseAsync(job.CancellationToken);
        }
        catch (Exception e)
        {
            closing = ValueTask.FromException<B3Digest>(e);
        }
        _ = FinishAsync(job, closing);
    }

    // Completes synchronously (no task object is kept) when the close already has.
    private static async Task FinishAsync(Job job, ValueTask<B3Digest> closing)
    {
        try
        {
            B3Digest digest = await closing.ConfigureAwait(false);
            job.Node.Digest = digest.ToByteString();
            await job.Writer.DisposeAsync().ConfigureAwait(false);
            job.Done.TrySetResult();
        }
        catch (Exception e)
        {
            await job.Writer.DisposeAsync().ConfigureAwait(false);
            job.Done.TrySetException(e);
        }
    }
}
