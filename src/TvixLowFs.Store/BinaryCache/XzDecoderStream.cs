using System.Runtime.InteropServices;
using static TvixLowFs.Store.Interop;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// xz through liblzma's <c>lzma_stream_decoder</c>, the decoder of <c>xz -d</c> and of Nix
/// (through libarchive). <c>LZMA_CONCATENATED</c>: Nix writes one stream, but streams written one
/// after another (and stream padding) decode as one, as <c>xz -d</c> accepts them; the end is
/// only accepted once the whole input is consumed (<c>LZMA_FINISH</c>), so anything else after a
/// stream fails. <c>LZMA_TELL_UNSUPPORTED_CHECK</c>: a stream whose integrity check this liblzma
/// cannot verify is refused rather than decoded unchecked (xz writes CRC32, CRC64 or SHA-256, all
/// verified). The decoder's memory is bounded by <see cref="MemoryLimit"/>.
/// </summary>
internal sealed unsafe class XzDecoderStream : DecoderStream
{
    /// <summary>xz -9 needs 65 MiB to decode; a hostile header may ask for gigabytes.</summary>
    internal const ulong MemoryLimit = 512UL * 1024 * 1024;

    // In native memory: a stable address for the decoder's lifetime, freed by Dispose or the finalizer.
    private Lzma.LzmaStream* _stream;

    public XzDecoderStream(Stream inner) : base(inner)
    {
        _stream = (Lzma.LzmaStream*)NativeMemory.AllocZeroed((nuint)sizeof(Lzma.LzmaStream));
        int ret = Lzma.StreamDecoder(_stream, MemoryLimit, Lzma.Concatenated | Lzma.TellUnsupportedCheck);
        if (ret != Lzma.Ok)
        {
            NativeMemory.Free(_stream);
            _stream = null;
            GC.SuppressFinalize(this);
            throw new InvalidOperationException($"lzma_stream_decoder failed (lzma_ret {ret})");
        }
    }

    ~XzDecoderStream() => Dispose(false);

    protected override string Method => "xz";

    protected override int Decode(ReadOnlySpan<byte> input, Span<byte> output, bool inputEnded, out int consumed, out bool finished)
    {
        Lzma.LzmaStream* stream = _stream != null ? _stream : throw new ObjectDisposedException(nameof(XzDecoderStream));
        int ret;
        fixed (byte* inputStart = input)
        fixed (byte* outputStart = output)
        {
            stream->NextIn = inputStart;
            stream->AvailIn = (nuint)input.Length;
            stream->NextOut = outputStart;
            stream->AvailOut = (nuint)output.Length;
            ret = Lzma.Code(stream, inputEnded ? Lzma.Finish : Lzma.Run);
            consumed = input.Length - (int)stream->AvailIn;
            int produced = output.Length - (int)stream->AvailOut;
            stream->NextIn = null;
            stream->NextOut = null;
            finished = ret == Lzma.StreamEnd;
            if (ret is Lzma.Ok or Lzma.StreamEnd) return produced;
        }
        throw ret switch
        {
            // Returned for LZMA_FINISH when no progress is possible: the input ended inside a stream.
            Lzma.BufError => (Exception)Truncated(),
            Lzma.FormatError => stream->TotalOut == 0
                ? new InvalidDataException("not xz data (no xz stream header)")
                : TrailingData(),
            Lzma.DataError => new InvalidDataException("corrupt xz data (a block, index or integrity check does not match)"),
            Lzma.OptionsError => new InvalidDataException("unsupported xz stream options"),
            Lzma.UnsupportedCheck => new InvalidDataException("xz stream uses an integrity check liblzma cannot verify"),
            Lzma.MemlimitError => new InvalidDataException($"xz stream needs more than {MemoryLimit >> 20} MiB of memory to decode"),
            Lzma.MemError => new InsufficientMemoryException("liblzma could not allocate memory"),
            _ => new InvalidDataException($"xz decoder failed (lzma_ret {ret})"),
        };
    }

    protected override void Dispose(bool disposing)
    {
        if (_stream != null)
        {
            Lzma.End(_stream);
            NativeMemory.Free(_stream);
            _stream = null;
        }
        base.Dispose(disposing);
    }
}
