namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// A read-only stream that decompresses <see cref="Stream"/> input through a decoder that reports
/// how much it consumed and produced (liblzma, libbz2, zlib, brotli, zstd), so the end of the
/// compressed format, the end of the input and anything after the format's end can be told apart:
/// input that ends early and bytes after the end fail instead of passing as a shorter result
/// (which .NET's GZipStream and BrotliStream let through). The decoder writes straight into the
/// caller's buffer, so a read returns at most what was asked for and nothing piles up on the
/// output side; compressed input goes through one 64 KiB buffer.
/// </summary>
internal abstract class DecoderStream : Stream
{
    private const int InputBufferSize = 64 * 1024;

    private readonly byte[] _input = GC.AllocateUninitializedArray<byte>(InputBufferSize);
    private Stream? _inner;
    private int _inputStart;
    private int _inputCount;
    private bool _inputEnded;
    private bool _finished;
    private int _idleCallsAtEnd;
    private InvalidDataException? _failure;

    protected DecoderStream(Stream inner) => _inner = inner;

    /// <summary>The method's name for messages ("xz", "bzip2", …).</summary>
    protected abstract string Method { get; }

    /// <summary>
    /// Decodes from <paramref name="input"/> into <paramref name="output"/> (never empty), returning
    /// the bytes written and setting <paramref name="consumed"/>. Sets <paramref name="finished"/>
    /// once the format has ended properly and no input is left (<paramref name="inputEnded"/>:
    /// nothing follows <paramref name="input"/>). Throws <see cref="InvalidDataException"/> for
    /// corrupt data, for input that ends inside the format and for bytes after its end.
    /// </summary>
    protected abstract int Decode(ReadOnlySpan<byte> input, Span<byte> output, bool inputEnded, out int consumed, out bool finished);

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        Stream inner = _inner ?? throw new ObjectDisposedException(GetType().Name);
        while (!_finished)
        {
            if (_inputCount == 0 && !_inputEnded) Refilled(inner.Read(_input));
            int produced = DecodeOnce(buffer);
            if (produced > 0) return produced;
        }
        return 0;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return 0;
        Stream inner = _inner ?? throw new ObjectDisposedException(GetType().Name);
        while (!_finished)
        {
            if (_inputCount == 0 && !_inputEnded)
                Refilled(await inner.ReadAsync(_input, cancellationToken).ConfigureAwait(false));
            int produced = DecodeOnce(buffer.Span);
            if (produced > 0) return produced;
        }
        return 0;
    }

    private void Refilled(int read)
    {
        _inputStart = 0;
        _inputCount = read;
        if (read == 0) _inputEnded = true;
    }

    private int DecodeOnce(Span<byte> buffer)
    {
        // A decoder that failed once is in an undefined state: every later read fails the same way.
        if (_failure is not null) throw _failure;
        int pendingBefore = _inputCount;
        int produced;
        try
        {
            produced = Decode(_input.AsSpan(_inputStart, _inputCount), buffer, _inputEnded, out int consumed, out _finished);
            _inputStart += consumed;
            _inputCount -= consumed;
        }
        catch (InvalidDataException failure)
        {
            _failure = failure;
            throw;
        }
        if (produced > 0) return produced;
        // Every decoder progresses when given input and room for output; one that neither consumed
        // nor produced would make the read loop spin, so it is an error, not a retry.
        if (!_finished && pendingBefore > 0 && _inputCount == pendingBefore)
            throw _failure = new InvalidDataException($"{Method} decoder made no progress");
        // At the end of the input a decoder may need a call or two to flush; more than that with
        // nothing produced and no end marker seen is a truncated stream.
        if (!_finished && _inputEnded && _inputCount == 0 && ++_idleCallsAtEnd > 2)
            throw _failure = Truncated();
        return 0;
    }

    protected InvalidDataException Truncated() =>
        new($"truncated {Method} data: the input ended before the end of the compressed stream");

    protected InvalidDataException TrailingData() =>
        new($"corrupt {Method} data: bytes after the end of the {Method} stream that are not another stream");

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner?.Dispose();
            _inner = null;
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => _inner is not null;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
