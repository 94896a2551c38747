using System.Buffers;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Grpc.Client;

namespace TvixLowFs.Fuzz;

/// <summary>
/// The gRPC client's own <c>BlobChunk</c> decoder (<see cref="PooledBlobChunk"/>, pooled arrays
/// instead of protobuf's), over the message whole and split in two segments as a pipe delivers
/// it. Documented rejection: InvalidDataException. Where Google.Protobuf also accepts the bytes,
/// both must read the same data (the last field 1 wins).
/// </summary>
public sealed class BlobChunkTarget : FuzzTarget
{
    public override string Name => "blob-chunk";

    public override bool Run(byte[] input)
    {
        byte[]? whole = Decode(new ReadOnlySequence<byte>(input));
        byte[]? split = Decode(Split(input, input.Length / 2));
        if ((whole is null) != (split is null) || (whole is not null && !whole.AsSpan().SequenceEqual(split)))
            throw new BrokenPromiseException("the decoder's answer depends on how the message is split into segments");
        if (whole is null)
            return false;
        BlobChunk reference;
        try
        {
            reference = BlobChunk.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException)
        {
            return true; // stricter or laxer than protobuf elsewhere is fine; the data is what must agree
        }
        if (!reference.Data.Span.SequenceEqual(whole))
            throw new BrokenPromiseException($"read {whole.Length} bytes of data where protobuf reads {reference.Data.Length}");
        return true;
    }

    private static byte[]? Decode(ReadOnlySequence<byte> payload)
    {
        PooledBlobChunk chunk;
        try
        {
            chunk = PooledBlobChunk.Parse(payload);
        }
        catch (InvalidDataException)
        {
            return null;
        }
        byte[] data = chunk.Data.ToArray();
        chunk.Return();
        if (!chunk.Data.IsEmpty)
            throw new BrokenPromiseException("Data is not empty after Return");
        return data;
    }

    private static ReadOnlySequence<byte> Split(byte[] input, int at)
    {
        var first = new Segment(input.AsMemory(0, at), 0);
        var second = first.Append(input.AsMemory(at));
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    public override IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        yield return ("valid-data", new BlobChunk { Data = ByteString.CopyFromUtf8("hello, blob\n") }.ToByteArray());
        yield return ("valid-empty", []);
        yield return ("valid-binary", new BlobChunk { Data = ByteString.CopyFrom(Enumerable.Range(0, 300).Select(i => (byte)i).ToArray()) }.ToByteArray());
        // Unknown fields of every supported wire type around the data, and a second data field (the last wins).
        yield return ("valid-unknown-fields", [0x10, 0x96, 0x01, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x0A, 0x02, (byte)'a', (byte)'b',
            0x25, 9, 9, 9, 9, 0x2A, 0x01, 0x00, 0x0A, 0x01, (byte)'z']);
        yield return ("near-truncated-length", [0x0A, 0x05, (byte)'a']);
        yield return ("near-field-zero", [0x02, 0x00]);
        yield return ("near-group-wire-type", [0x0B, 0x0C]);
        yield return ("near-long-varint", [0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
    }
}
