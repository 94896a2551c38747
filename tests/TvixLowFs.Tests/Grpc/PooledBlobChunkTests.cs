using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Grpc.Client;
using System.Buffers;

namespace TvixLowFs.Tests.Grpc;

/// <summary>The client's own BlobChunk decoder (pooled buffers) against what protobuf itself encodes.</summary>
public sealed class PooledBlobChunkTests
{
    private static byte[] Parsed(byte[] wire)
    {
        var chunk = PooledBlobChunk.Parse(new ReadOnlySequence<byte>(wire));
        byte[] data = chunk.Data.ToArray();
        chunk.Return();
        Assert.That(chunk.Data.IsEmpty, Is.True, "returned: no bytes left to read");
        return data;
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(200_000)]
    public void DecodesWhatProtobufEncodes(int length)
    {
        byte[] data = Samples.Bytes(length, length);
        Assert.That(Parsed(new BlobChunk { Data = ByteString.CopyFrom(data) }.ToByteArray()), Is.EqualTo(data));
    }

    [Test]
    public void SkipsUnknownFieldsOfEveryWireTypeAndTakesTheLastDataField()
    {
        byte[] wire =
        [
            0x10, 0x96, 0x01,                               // field 2, varint 150
            0x0A, 0x02, 0xAA, 0xBB,                         // data = AA BB
            0x19, 1, 2, 3, 4, 5, 6, 7, 8,                   // field 3, fixed64
            0x22, 0x03, 9, 9, 9,                            // field 4, bytes
            0x2D, 1, 2, 3, 4,                               // field 5, fixed32
            0x0A, 0x03, 0x01, 0x02, 0x03,                   // data again: the last one wins
        ];
        Assert.That(Parsed(wire), Is.EqualTo(new byte[] { 1, 2, 3 }));
    }

    [TestCase(new byte[] { 0x0A, 0x05, 1, 2 }, TestName = "data longer than the message")]
    [TestCase(new byte[] { 0x0A }, TestName = "a length missing")]
    [TestCase(new byte[] { 0x0A, 0x80 }, TestName = "a truncated varint")]
    [TestCase(new byte[] { 0x0B, 0x00 }, TestName = "a group (wire type 3)")]
    [TestCase(new byte[] { 0x19, 1, 2 }, TestName = "a truncated fixed64")]
    public void RefusesMalformedMessages(byte[] wire) =>
        Assert.Throws<InvalidDataException>(() => PooledBlobChunk.Parse(new ReadOnlySequence<byte>(wire)));
}
