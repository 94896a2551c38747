using NUnit.Framework;
using TvixLowFs.Store.BinaryCache;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>The pipe between a substitution's stages: exact bytes, the source's failure as it was, bounded read-ahead, prompt disposal.</summary>
public sealed class ReadAheadStreamTests
{
    /// <summary>A source that hands out a few bytes at a time, then fails or ends (a test double of a download).</summary>
    private sealed class TricklingSource(byte[] data, Exception? failAtEnd = null) : Stream
    {
        private int _position;
        private int _readCalls;
        public bool Disposed;

        public int ReadCalls => Volatile.Read(ref _readCalls);

        /// <summary>Completes when the failure at the end has been thrown.</summary>
        public TaskCompletionSource Failed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            Interlocked.Increment(ref _readCalls);
            if (_position == data.Length)
            {
                if (failAtEnd is null)
                    return 0;
                Failed.TrySetResult();
                throw failAtEnd;
            }
            int count = Math.Min(Math.Min(buffer.Length, 7_777), data.Length - _position);
            data.AsSpan(_position, count).CopyTo(buffer.Span);
            _position += count;
            return count;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("reads are asynchronous");
        protected override void Dispose(bool disposing) => Disposed = true;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Test, CancelAfter(30_000)]
    public async Task Every_byte_arrives_in_order_whatever_the_read_sizes()
    {
        byte[] data = TvixLowFs.Tests.Store.TestTrees.Pattern(3_000_001, seed: 5);
        var source = new TricklingSource(data);
        await using (var ahead = new ReadAheadStream(source, 256 * 1024))
        {
            var received = new MemoryStream();
            byte[] buffer = new byte[100_003];
            int[] sizes = [1, 13, 65_536, 100_003];
            for (int i = 0; ; i++)
            {
                int read = await ahead.ReadAsync(buffer.AsMemory(0, sizes[i % sizes.Length]));
                if (read == 0)
                    break;
                received.Write(buffer, 0, read);
            }
            Assert.That(received.ToArray(), Is.EqualTo(data));
        }
        Assert.That(source.Disposed, Is.True, "the stream owns its source");
    }

    [Test, CancelAfter(30_000)]
    public async Task The_sources_failure_is_thrown_as_it_was_after_the_bytes_before_it()
    {
        var source = new TricklingSource(new byte[50_000], new InvalidDataException("truncated xz data"));
        await using var ahead = new ReadAheadStream(source, 64 * 1024);
        var received = new MemoryStream();
        var failure = await Assert.ThrowsAsync<InvalidDataException>(async () => await ahead.CopyToAsync(received));
        Assert.That(failure!.Message, Is.EqualTo("truncated xz data"));
        Assert.That(received.Length, Is.EqualTo(50_000));
    }

    [Test, CancelAfter(30_000)]
    public async Task A_failure_behind_unread_bytes_waits_for_them()
    {
        // The slow reader: the source has failed before the first read (the pipe holds every byte).
        var source = new TricklingSource(new byte[50_000], new InvalidDataException("truncated xz data"));
        await using var ahead = new ReadAheadStream(source, 64 * 1024);
        await source.Failed.Task;
        await Task.Delay(50); // the fill task completes the pipe right after the throw
        var received = new MemoryStream();
        var failure = await Assert.ThrowsAsync<InvalidDataException>(async () => await ahead.CopyToAsync(received));
        Assert.That(failure!.Message, Is.EqualTo("truncated xz data"));
        Assert.That(received.Length, Is.EqualTo(50_000), "every byte before the failure is read first");
    }

    [Test, CancelAfter(30_000)]
    public async Task The_source_runs_ahead_only_so_far_and_stops_when_disposed()
    {
        var source = new TricklingSource(new byte[64 << 20]);
        var ahead = new ReadAheadStream(source, 1 << 20);
        byte[] one = new byte[1];
        Assert.That(await ahead.ReadAsync(one), Is.EqualTo(1));
        await Task.Delay(300);
        int calls = source.ReadCalls;
        Assert.That(calls, Is.LessThan((2 << 20) / 7_777 + 10), "about 1 MiB ahead of the reader, not the whole 64 MiB");
        await ahead.DisposeAsync();
        int afterDispose = source.ReadCalls;
        await Task.Delay(200);
        Assert.That(source.ReadCalls, Is.EqualTo(afterDispose), "no reads after disposal");
        Assert.That(source.Disposed, Is.True);
    }
}
