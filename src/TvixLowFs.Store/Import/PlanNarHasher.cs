using System.Buffers;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Import;

/// <summary>
/// The NAR size and SHA-256 of a plan, computed while its files are ingested in parallel and from
/// the very bytes that are stored: ingest hands each file's contents over as it reads them, and one
/// thread of its own hashes the archive in NAR order (a plan lists its files in that order). Nothing
/// is read twice (the NAR used to be computed afterwards by reading every stored blob back).
/// </summary>
/// <remarks>
/// A file is announced with the size the walk saw; ingest fails a file whose size changed since,
/// so the archive's length fields always match the contents. Chunks of files ahead of the one
/// being hashed are parked in pooled buffers up to a budget; past it their readers wait. The reader
/// of the file being hashed waits only for its own chunks (a few MiB ahead), which the hasher is
/// draining, so the hashing thread never waits for a reader that waits for it.
/// </remarks>
internal sealed class PlanNarHasher : IDisposable
{
    private const long ParkedBudget = 64L << 20;

    // The file being hashed may run this far ahead of the hasher (its own chunks free as it is
    // hashed): a big file streams through a few reused buffers instead of parking all of itself.
    private const long CurrentFileLead = 4L << 20;

    private readonly ImportPlan _plan;
    // An object, not a Lock: the waits are Monitor.Wait.
    private readonly object _gate = new();
    private readonly Queue<(byte[] Buffer, int Length)>?[] _parked;
    private readonly long[] _parkedOf;
    private readonly bool[] _complete;
    private readonly Task<NarHash> _hashing;
    private int _current;
    private long _parkedBytes;
    private Exception? _abort;
    // Who waits, so a pulse (a futex call, a wake-up) is only made for a waiter.
    private bool _hasherWaiting;
    private int _readersWaiting;

    public PlanNarHasher(ImportPlan plan)
    {
        _plan = plan;
        _parked = new Queue<(byte[], int)>?[plan.FileCount];
        _complete = new bool[plan.FileCount];
        _parkedOf = new long[plan.FileCount];
        // A thread of its own: it blocks while waiting for contents, which a pool thread must not.
        _hashing = Task.Factory.StartNew(Hash, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>The archive's size and SHA-256, once every file was completed.</summary>
    public Task<NarHash> Result => _hashing;

    /// <summary>Hands over the next chunk of file <paramref name="index"/> (copied: the caller keeps its buffer).</summary>
    public void Add(int index, ReadOnlySpan<byte> chunk)
    {
        if (chunk.IsEmpty)
            return;
        byte[] copy = ArrayPool<byte>.Shared.Rent(chunk.Length);
        chunk.CopyTo(copy);
        lock (_gate)
        {
            while (_abort is null && (index == _current
                       ? _parkedOf[index] >= CurrentFileLead
                       : _parkedBytes + chunk.Length > ParkedBudget))
            {
                _readersWaiting++;
                Monitor.Wait(_gate);
                _readersWaiting--;
            }
            if (_abort is not null)
            {
                ArrayPool<byte>.Shared.Return(copy);
                throw new OperationCanceledException("the import stopped", _abort);
            }
            (_parked[index] ??= new Queue<(byte[], int)>(1)).Enqueue((copy, chunk.Length));
            _parkedBytes += chunk.Length;
            _parkedOf[index] += chunk.Length;
            if (_hasherWaiting && index == _current)
                Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Says that file <paramref name="index"/> has no more contents.</summary>
    public void Complete(int index)
    {
        lock (_gate)
        {
            _complete[index] = true;
            if (_hasherWaiting && index == _current)
                Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Stops the hashing thread (ingest failed or was cancelled) and wakes every waiting reader.</summary>
    public void Abort(Exception reason)
    {
        lock (_gate)
        {
            _abort ??= reason;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Rethrows the reason of the first <see cref="Abort"/>, if any.</summary>
    public void ThrowFirstFailure()
    {
        Exception? reason;
        lock (_gate)
            reason = _abort;
        if (reason is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(reason);
    }

    public void Dispose()
    {
        Abort(new ObjectDisposedException(nameof(PlanNarHasher)));
        try
        {
            _hashing.Wait();
        }
        catch (AggregateException)
        {
            // Its failure was the abort, or is reported through Result.
        }
        lock (_gate)
        {
            foreach (Queue<(byte[] Buffer, int Length)>? queue in _parked)
            {
                while (queue is not null && queue.TryDequeue(out (byte[] Buffer, int Length) chunk))
                    ArrayPool<byte>.Shared.Return(chunk.Buffer);
            }
        }
    }

    private NarHash Hash()
    {
        using var hasher = new NarHasher();
        var writer = new NarWriter(hasher);
        writer.WriteHeader();
        WriteNode(writer, _plan.Root);
        return new NarHash(hasher.Size, hasher.CurrentSha256());
    }

    private void WriteNode(NarWriter writer, PlannedNode node)
    {
        switch (node)
        {
            case PlannedFile file:
                writer.BeginFile(file.Executable, (ulong)file.Size);
                WriteContents(writer, file.Index);
                writer.EndFile();
                break;
            case PlannedSymlink symlink:
                writer.WriteSymlink(symlink.Target);
                break;
            case PlannedDirectory directory:
                writer.BeginDirectory();
                foreach (PlannedNode child in directory.Children)
                {
                    writer.BeginEntry(child.Name);
                    WriteNode(writer, child);
                    writer.EndEntry();
                }
                writer.EndDirectory();
                break;
        }
    }

    private void WriteContents(NarWriter writer, int index)
    {
        while (true)
        {
            (byte[] Buffer, int Length) chunk;
            lock (_gate)
            {
                Queue<(byte[] Buffer, int Length)>? queue;
                while (_abort is null && ((queue = _parked[index]) is null || queue.Count == 0) && !_complete[index])
                {
                    _hasherWaiting = true;
                    Monitor.Wait(_gate);
                    _hasherWaiting = false;
                }
                if (_abort is not null)
                    throw new OperationCanceledException("the import stopped", _abort);
                queue = _parked[index];
                if (queue is null || !queue.TryDequeue(out chunk))
                {
                    // Complete and drained: the next file's reader may now park past the budget.
                    _parked[index] = null;
                    _current = index + 1;
                    if (_readersWaiting > 0)
                        Monitor.PulseAll(_gate);
                    return;
                }
                _parkedBytes -= chunk.Length;
                _parkedOf[index] -= chunk.Length;
                if (_readersWaiting > 0)
                    Monitor.PulseAll(_gate);
            }
            try
            {
                writer.WriteFileContents(chunk.Buffer.AsSpan(0, chunk.Length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk.Buffer);
            }
        }
    }
}
