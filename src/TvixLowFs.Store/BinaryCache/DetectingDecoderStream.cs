using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// The decompressor for a <c>Compression</c> name this code does not know: on the first read, the
/// data's first bytes pick the method (<see cref="NarCompression.Detect"/>), as Nix 2.8 lets
/// libarchive do for every name but none and br; no match is a <see cref="StoreValidationException"/>
/// naming the compression.
/// </summary>
internal sealed class DetectingDecoderStream(Stream compressed, string compression) : Stream
{
    private Stream? _decoder;
    private bool _disposed;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_decoder is null)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            byte[] magic = new byte[NarCompression.MagicLength];
            int length = 0;
            while (length < magic.Length)
            {
                int n = compressed.Read(magic.AsSpan(length));
                if (n == 0) break;
                length += n;
            }
            _decoder = Choose(magic, length);
        }
        return _decoder.Read(buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_decoder is null)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            byte[] magic = new byte[NarCompression.MagicLength];
            int length = 0;
            while (length < magic.Length)
            {
                int n = await compressed.ReadAsync(magic.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (n == 0) break;
                length += n;
            }
            _decoder = Choose(magic, length);
        }
        return await _decoder.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    private Stream Choose(byte[] magic, int length)
    {
        string method = NarCompression.Detect(magic.AsSpan(0, length))
            ?? throw new StoreValidationException($"unsupported compression '{compression}'");
        return NarCompression.Open(new PrefixedStream(magic, length, compressed), method);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            if (_decoder is not null) _decoder.Dispose();
            else compressed.Dispose();
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => !_disposed;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
