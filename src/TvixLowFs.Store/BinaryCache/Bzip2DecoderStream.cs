using static Interop;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// bzip2 through libbz2, the reference implementation (<c>bzip2 -d</c> and libarchive use it),
/// which checks every block's CRC and the stream's combined CRC. Streams written one after another
/// decode as one, as <c>bzip2 -d</c> does; anything else after a stream's end marker fails.
/// </summary>
internal sealed unsafe class Bzip2DecoderStream : NativeDecoderStream<Bzip2.BzStream>
{
    private bool _betweenStreams;

    public Bzip2DecoderStream(Stream inner) : base(inner)
    {
        int ret = Bzip2.DecompressInit(State, 0, 0);
        if (ret != Bzip2.Ok)
            throw InitFailed($"BZ2_bzDecompressInit failed ({ret})");
    }

    protected override string Method => "bzip2";

    protected override int Decode(ReadOnlySpan<byte> input, Span<byte> output, bool inputEnded, out int consumed, out bool finished)
    {
        Bzip2.BzStream* stream = State;
        consumed = 0;
        finished = false;
        if (_betweenStreams)
        {
            // After a stream's end: the end of the input, or another stream.
            if (input.IsEmpty)
            {
                finished = inputEnded;
                return 0;
            }
            if (!MayStartWith(input, "BZh"u8)) throw TrailingData();
            Bzip2.DecompressEnd(stream);
            *stream = default;
            int init = Bzip2.DecompressInit(stream, 0, 0);
            if (init != Bzip2.Ok) throw new InvalidOperationException($"BZ2_bzDecompressInit failed ({init})");
            _betweenStreams = false;
        }
        int ret;
        int produced;
        fixed (byte* inputStart = input)
        fixed (byte* outputStart = output)
        {
            stream->NextIn = inputStart;
            stream->AvailIn = (uint)input.Length;
            stream->NextOut = outputStart;
            stream->AvailOut = (uint)output.Length;
            ret = Bzip2.Decompress(stream);
            consumed = input.Length - (int)stream->AvailIn;
            produced = output.Length - (int)stream->AvailOut;
            stream->NextIn = null;
            stream->NextOut = null;
        }
        switch (ret)
        {
            case Bzip2.StreamEnd:
                _betweenStreams = true;
                finished = inputEnded && consumed == input.Length;
                return produced;
            case Bzip2.Ok:
                // At the input's end this returns nothing, and DecoderStream reports the truncation.
                return produced;
            case Bzip2.DataErrorMagic:
                throw new InvalidDataException("not bzip2 data (no BZh stream header)");
            case Bzip2.DataError:
                throw new InvalidDataException("corrupt bzip2 data (a block or stream CRC does not match, or the data is malformed)");
            case Bzip2.MemError:
                throw new InsufficientMemoryException("libbz2 could not allocate memory");
            default:
                throw new InvalidDataException($"bzip2 decoder failed ({ret})");
        }
    }

    protected override void End(Bzip2.BzStream* state) => Bzip2.DecompressEnd(state);
}
