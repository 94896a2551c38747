using static Interop;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// xz through liblzma's <c>lzma_stream_decoder</c>, the decoder of <c>xz -d</c> and of Nix
/// (through libarchive). Nix writes one stream, but streams written one after another, with
/// stream padding (zero bytes in fours) between and after them, decode as one, as <c>xz -d</c>
/// accepts them. That is done here rather than with <c>LZMA_CONCATENATED</c>, which reports bytes
/// after the last stream as corrupt data: here they are named as what they are. Input that ends
/// inside a stream fails. <c>LZMA_TELL_UNSUPPORTED_CHECK</c>: a stream whose integrity check this
/// liblzma cannot verify is refused rather than decoded unchecked (xz writes CRC32, CRC64 or
/// SHA-256, all verified). The decoder's memory is bounded by <see cref="MemoryLimit"/>.
/// </summary>
internal sealed unsafe class XzDecoderStream : NativeDecoderStream<Lzma.LzmaStream>
{
    /// <summary>xz -9 needs 65 MiB to decode; a hostile header may ask for gigabytes.</summary>
    internal const ulong MemoryLimit = 512UL * 1024 * 1024;

    private bool _betweenStreams;
    private long _paddingBytes;

    public XzDecoderStream(Stream inner) : base(inner)
    {
        int ret = Lzma.StreamDecoder(State, MemoryLimit, Lzma.TellUnsupportedCheck);
        if (ret != Lzma.Ok)
            throw InitFailed($"lzma_stream_decoder failed (lzma_ret {ret})");
    }

    private static ReadOnlySpan<byte> StreamMagic => [0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00];

    protected override string Method => "xz";

    protected override int Decode(ReadOnlySpan<byte> input, Span<byte> output, bool inputEnded, out int consumed, out bool finished)
    {
        Lzma.LzmaStream* stream = State;
        if (_betweenStreams)
        {
            // After a stream: padding, then the end of the input or another stream.
            consumed = 0;
            finished = false;
            while (consumed < input.Length && input[consumed] == 0) consumed++;
            _paddingBytes += consumed;
            if (consumed == input.Length)
            {
                if (!inputEnded) return 0;
                if (_paddingBytes % 4 != 0) throw new InvalidDataException($"corrupt xz data: {_paddingBytes} bytes of stream padding (a multiple of 4 is allowed)");
                finished = true;
                return 0;
            }
            ReadOnlySpan<byte> rest = input[consumed..];
            if (_paddingBytes % 4 != 0 || !MayStartWith(rest, StreamMagic)) throw TrailingData();
            // Another stream: a fresh decoder (lzma_stream_decoder on a used stream reinitialises it).
            int init = Lzma.StreamDecoder(stream, MemoryLimit, Lzma.TellUnsupportedCheck);
            if (init != Lzma.Ok) throw new InvalidOperationException($"lzma_stream_decoder failed (lzma_ret {init})");
            _betweenStreams = false;
            _paddingBytes = 0;
            int skipped = consumed;
            int produced = Decode(rest, output, inputEnded, out consumed, out finished);
            consumed += skipped;
            return produced;
        }
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
            finished = false;
            if (ret == Lzma.StreamEnd)
            {
                _betweenStreams = true;
                finished = inputEnded && consumed == input.Length;
                return produced;
            }
            if (ret == Lzma.Ok) return produced;
        }
        throw ret switch
        {
            // Returned for LZMA_FINISH when no progress is possible: the input ended inside a stream.
            Lzma.BufError => (Exception)Truncated(),
            Lzma.FormatError => new InvalidDataException("not xz data (no xz stream header)"),
            Lzma.DataError => new InvalidDataException("corrupt xz data (a block, index or integrity check does not match)"),
            Lzma.OptionsError => new InvalidDataException("unsupported xz stream options"),
            Lzma.UnsupportedCheck => new InvalidDataException("xz stream uses an integrity check liblzma cannot verify"),
            Lzma.MemlimitError => new InvalidDataException($"xz stream needs more than {MemoryLimit >> 20} MiB of memory to decode"),
            Lzma.MemError => new InsufficientMemoryException("liblzma could not allocate memory"),
            _ => new InvalidDataException($"xz decoder failed (lzma_ret {ret})"),
        };
    }

    protected override void End(Lzma.LzmaStream* state) => Lzma.End(state);
}
