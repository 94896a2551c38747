using System.Buffers;
using Grpc.Core;
using TvixLowFs.Protos.Castore;

namespace TvixLowFs.Store.Grpc.Client;

/// <summary>
/// A received <c>BlobChunk</c> whose bytes sit in a pooled array rather than a fresh one: the
/// generated parser copies each chunk (up to a few hundred KiB) into a new large-object array, and
/// a big blob then costs the GC one full collection after another. The reader returns the array
/// once it has hashed and written the chunk.
/// </summary>
internal sealed class PooledBlobChunk
{
    private const ulong MaxFieldNumber = (1 << 29) - 1;

    private byte[] _array;
    private int _length;

    private PooledBlobChunk(byte[] array, int length)
    {
        _array = array;
        _length = length;
    }

    public ReadOnlyMemory<byte> Data => _array.AsMemory(0, _length);

    /// <summary>Gives the array back; <see cref="Data"/> is empty afterwards.</summary>
    public void Return()
    {
        byte[] array = _array;
        _array = [];
        _length = 0;
        if (array.Length > 0)
            ArrayPool<byte>.Shared.Return(array);
    }

    /// <summary>tvix.castore.v1.BlobService/Read, answered with pooled chunks (same wire format as the generated client's).</summary>
    public static readonly Method<ReadBlobRequest, PooledBlobChunk> ReadMethod = new(
        MethodType.ServerStreaming,
        "tvix.castore.v1.BlobService",
        "Read",
        Marshallers.Create<ReadBlobRequest>(
            (request, context) =>
            {
                int size = request.CalculateSize();
                context.SetPayloadLength(size);
                Google.Protobuf.MessageExtensions.WriteTo(request, context.GetBufferWriter());
                context.Complete();
            },
            context => ReadBlobRequest.Parser.ParseFrom(context.PayloadAsReadOnlySequence())),
        Marshallers.Create<PooledBlobChunk>(
            (_, _) => throw new NotSupportedException("a client never sends a BlobChunk on Read"),
            context => Parse(context.PayloadAsReadOnlySequence())));

    /// <summary>
    /// Parses <c>message BlobChunk { bytes data = 1; }</c>: field 1 (the last one wins, as in
    /// protobuf) into a pooled array; any other field is skipped by its wire type.
    /// </summary>
    internal static PooledBlobChunk Parse(ReadOnlySequence<byte> payload)
    {
        var reader = new SequenceReader<byte>(payload);
        byte[] array = [];
        int length = 0;
        try
        {
            while (!reader.End)
            {
                ulong tag = ReadVarint(ref reader);
                // A hostile tag or length must be rejected as bad data, not overflow (found by fuzzing).
                if (tag >> 3 > MaxFieldNumber)
                    throw new InvalidDataException("BlobChunk: a field number beyond protobuf's 2^29 - 1");
                int field = (int)(tag >> 3);
                int wireType = (int)(tag & 7);
                if (field == 0)
                    throw new InvalidDataException("BlobChunk: field number 0");
                switch (wireType)
                {
                    case 0:
                        ReadVarint(ref reader);
                        break;
                    case 1:
                        Skip(ref reader, 8);
                        break;
                    case 2:
                        ulong declared = ReadVarint(ref reader);
                        if (declared > (ulong)reader.Remaining)
                            throw new InvalidDataException("BlobChunk: a field runs past the end of the message");
                        long size = (long)declared;
                        if (field != 1)
                        {
                            Skip(ref reader, size);
                            break;
                        }
                        if (array.Length > 0)
                            ArrayPool<byte>.Shared.Return(array);
                        array = size == 0 ? [] : ArrayPool<byte>.Shared.Rent((int)size);
                        length = (int)size;
                        reader.TryCopyTo(array.AsSpan(0, length));
                        reader.Advance(length);
                        break;
                    case 5:
                        Skip(ref reader, 4);
                        break;
                    default:
                        throw new InvalidDataException($"BlobChunk: unsupported wire type {wireType}");
                }
            }
        }
        catch
        {
            if (array.Length > 0)
                ArrayPool<byte>.Shared.Return(array);
            throw;
        }
        return new PooledBlobChunk(array, length);
    }

    private static ulong ReadVarint(ref SequenceReader<byte> reader)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (!reader.TryRead(out byte b))
                throw new InvalidDataException("BlobChunk: truncated varint");
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
                return value;
        }
        throw new InvalidDataException("BlobChunk: malformed varint");
    }

    private static void Skip(ref SequenceReader<byte> reader, long count)
    {
        if (count > reader.Remaining)
            throw new InvalidDataException("BlobChunk: a field runs past the end of the message");
        reader.Advance(count);
    }
}
