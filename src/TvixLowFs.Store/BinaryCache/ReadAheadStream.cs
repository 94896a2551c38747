using System.Buffers;
using System.IO.Pipelines;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// A read-only stream whose source is read ahead by a task of its own into a bounded pipe, so the
/// stage producing bytes (the download, the decompressor) works while the stage consuming them
/// (decompression, NAR ingestion) handles what came before: a substitution's network wait,
/// decompression and hashing+writing overlap instead of taking turns on one thread. A failure of the
/// source is thrown, as it was, by the read that reaches it. Owns (and disposes) the source.
/// </summary>
internal sealed class ReadAheadStream : ReadOnlyStream
{
    private const int SegmentBytes = 64 * 1024;

    private readonly Stream _source;
    private readonly Pipe _pipe;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _fill;
    private int _disposed;
    private System.Runtime.ExceptionServices.ExceptionDispatchInfo? _failure; // written before the writer completes

    /// <param name="aheadBytes">How far the source may run ahead of the reader.</param>
    public ReadAheadStream(Stream source, int aheadBytes)
    {
        _source = source;
        _pipe = new Pipe(new PipeOptions(pauseWriterThreshold: aheadBytes, resumeWriterThreshold: aheadBytes / 2,
            minimumSegmentSize: SegmentBytes, useSynchronizationContext: false));
        _fill = Task.Run(FillAsync);
    }

    private async Task FillAsync()
    {
        Exception? failure = null;
        try
        {
            while (true)
            {
                int read = await _source.ReadAsync(_pipe.Writer.GetMemory(SegmentBytes), _stop.Token).ConfigureAwait(false);
                if (read == 0)
                    break;
                _pipe.Writer.Advance(read);
                if ((await _pipe.Writer.FlushAsync(_stop.Token).ConfigureAwait(false)).IsCompleted)
                    break; // the reader is gone
            }
        }
        catch (Exception e)
        {
            failure = e;
        }
        // Not CompleteAsync(failure): the pipe would throw it at the next read even with bytes before
        // it still unread. The reader throws it once it has taken every byte.
        _failure = failure is null ? null : System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure);
        await _pipe.Writer.CompleteAsync().ConfigureAwait(false);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (buffer.IsEmpty)
            return 0;
        ReadResult result = await _pipe.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        ReadOnlySequence<byte> available = result.Buffer;
        if (available.IsEmpty && result.IsCompleted)
        {
            _pipe.Reader.AdvanceTo(available.End);
            _failure?.Throw();
            return 0;
        }
        int count = (int)Math.Min(available.Length, buffer.Length);
        available.Slice(0, count).CopyTo(buffer.Span);
        _pipe.Reader.AdvanceTo(available.GetPosition(count));
        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // The substitution reads asynchronously; a synchronous read would block a thread on the source.
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _pipe.Reader.CompleteAsync().ConfigureAwait(false);
        await _fill.ConfigureAwait(false); // FillAsync catches everything
        _stop.Dispose();
        await _source.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            DisposeAsync().AsTask().GetAwaiter().GetResult();
        base.Dispose(disposing);
    }

    public override bool CanRead => _disposed == 0;
}
