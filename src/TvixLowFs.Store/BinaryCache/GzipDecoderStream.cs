using System.Runtime.InteropServices;
using static Interop;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// gzip through zlib's inflate (gzip wrapper only), which checks each member's CRC-32 and length.
/// Members written one after another decode as one, as <c>gzip -d</c> does; anything else after
/// a member's trailer (gzip -d ignores it with a warning) and input that ends inside a member fail.
/// </summary>
internal sealed unsafe class GzipDecoderStream : NativeDecoderStream<Zlib.ZStream>
{
    private bool _betweenMembers;

    public GzipDecoderStream(Stream inner) : base(inner)
    {
        int ret;
        fixed (byte* version = Zlib.Version)
            ret = Zlib.InflateInit2(State, Zlib.GzipWindowBits, version, sizeof(Zlib.ZStream));
        if (ret != Zlib.Ok)
            throw InitFailed($"zlib inflateInit2 failed ({ret})");
    }

    protected override string Method => "gzip";

    protected override int Decode(ReadOnlySpan<byte> input, Span<byte> output, bool inputEnded, out int consumed, out bool finished)
    {
        Zlib.ZStream* stream = State;
        consumed = 0;
        finished = false;
        if (_betweenMembers)
        {
            // After a member's trailer: the end of the input, or another member.
            if (input.IsEmpty)
            {
                finished = inputEnded;
                return 0;
            }
            if (!MayStartWith(input, [0x1F, 0x8B])) throw TrailingData();
            int reset = Zlib.InflateReset(stream);
            if (reset != Zlib.Ok) throw new InvalidOperationException($"zlib inflateReset failed ({reset})");
            _betweenMembers = false;
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
            ret = Zlib.Inflate(stream, Zlib.NoFlush);
            consumed = input.Length - (int)stream->AvailIn;
            produced = output.Length - (int)stream->AvailOut;
            stream->NextIn = null;
            stream->NextOut = null;
        }
        switch (ret)
        {
            case Zlib.StreamEnd:
                _betweenMembers = true;
                finished = inputEnded && consumed == input.Length;
                return produced;
            case Zlib.Ok:
            // No progress possible: at the input's end DecoderStream reports the truncation.
            case Zlib.BufError:
                return produced;
            case Zlib.DataError:
            case Zlib.NeedDict:
                string? reason = stream->Msg != null ? Marshal.PtrToStringUTF8((nint)stream->Msg) : null;
                throw new InvalidDataException($"corrupt gzip data ({reason ?? "inflate failed"})");
            case Zlib.MemError:
                throw new InsufficientMemoryException("zlib could not allocate memory");
            default:
                throw new InvalidDataException($"gzip decoder failed (zlib {ret})");
        }
    }

    protected override void End(Zlib.ZStream* state) => Zlib.InflateEnd(state);
}
