using System.Buffers;
using System.IO.Compression;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// Brotli through .NET's <see cref="BrotliDecoder"/> (the reference C decoder). Unlike
/// <see cref="BrotliStream"/>, which returns a shorter result for a truncated stream and ignores
/// what follows the end, the decoder's status tells both apart, and both fail. Brotli has no
/// checksum: a corrupted stream may decode to other bytes, which the NAR's hash then catches.
/// </summary>
internal sealed class BrotliDecoderStream(Stream inner) : DecoderStream(inner)
{
    private BrotliDecoder _decoder;
    private bool _streamEnded;

    protected override string Method => "brotli";

    protected override int Decode(ReadOnlySpan<byte> input, Span<byte> output, bool inputEnded, out int consumed, out bool finished)
    {
        if (_streamEnded)
        {
            consumed = 0;
            if (!input.IsEmpty) throw TrailingData();
            finished = inputEnded;
            return 0;
        }
        OperationStatus status = _decoder.Decompress(input, output, out consumed, out int written);
        finished = false;
        switch (status)
        {
            case OperationStatus.Done:
                _streamEnded = true;
                if (consumed < input.Length) throw TrailingData();
                finished = inputEnded;
                return written;
            case OperationStatus.NeedMoreData:
            case OperationStatus.DestinationTooSmall:
                // At the input's end NeedMoreData means truncated; DecoderStream reports it.
                return written;
            default:
                throw new InvalidDataException("corrupt brotli data");
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _decoder.Dispose();
        base.Dispose(disposing);
    }
}
