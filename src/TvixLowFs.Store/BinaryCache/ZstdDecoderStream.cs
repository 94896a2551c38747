using ZstdSharp.Unsafe;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// zstd through ZstdSharp's port of the reference decoder (<c>ZSTD_decompressStream</c>), which
/// checks each frame's content checksum when the frame carries one (the zstd CLI writes it) and
/// bounds the window to zstd's default of 128 MiB. Frames written one after another decode as
/// one, as <c>zstd -d</c> does; the input must end at a frame's end. The C-level API is used
/// because ZstdSharp's DecompressionStream returns an empty result for an empty input, and its
/// UnwrapStream cannot report a frame that ends exactly when the output buffer fills.
/// </summary>
internal sealed unsafe class ZstdDecoderStream : DecoderStream
{
    private ZSTD_DCtx_s* _context;
    // The last call that made progress completed a frame (ZSTD_decompressStream returned 0).
    private bool _atFrameEnd;

    public ZstdDecoderStream(Stream inner) : base(inner)
    {
        _context = Methods.ZSTD_createDCtx();
        if (_context == null)
        {
            GC.SuppressFinalize(this);
            throw new InsufficientMemoryException("ZSTD_createDCtx failed");
        }
    }

    ~ZstdDecoderStream() => Dispose(false);

    protected override string Method => "zstd";

    protected override int Decode(ReadOnlySpan<byte> input, Span<byte> output, bool inputEnded, out int consumed, out bool finished)
    {
        ZSTD_DCtx_s* context = _context != null ? _context : throw new ObjectDisposedException(nameof(ZstdDecoderStream));
        consumed = 0;
        finished = false;
        if (input.IsEmpty && inputEnded && _atFrameEnd)
        {
            finished = true;
            return 0;
        }
        fixed (byte* inputStart = input)
        fixed (byte* outputStart = output)
        {
            var inBuffer = new ZSTD_inBuffer_s { src = inputStart, size = (nuint)input.Length, pos = 0 };
            var outBuffer = new ZSTD_outBuffer_s { dst = outputStart, size = (nuint)output.Length, pos = 0 };
            nuint ret = Methods.ZSTD_decompressStream(context, &outBuffer, &inBuffer);
            consumed = (int)inBuffer.pos;
            if (Methods.ZSTD_isError(ret))
            {
                // What follows a complete frame is no frame: trailing bytes.
                if (_atFrameEnd) throw TrailingData();
                throw new InvalidDataException($"corrupt zstd data ({Methods.ZSTD_getErrorName(ret)})");
            }
            if (consumed > 0 || outBuffer.pos > 0)
            {
                _atFrameEnd = ret == 0;
            }
            finished = _atFrameEnd && inputEnded && consumed == input.Length;
            return (int)outBuffer.pos;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (_context != null)
        {
            Methods.ZSTD_freeDCtx(_context);
            _context = null;
        }
        base.Dispose(disposing);
    }
}
