using Google.Protobuf;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>One chunk of a blob: the BLAKE3 of its bytes and their length.</summary>
public readonly record struct ChunkMeta(B3Digest Digest, int Size);

/// <summary>
/// A blob's chunk list as snix stores it: the tvix <c>StatBlobResponse</c> message
/// (<c>repeated ChunkMeta chunks = 2</c>, each <c>bytes digest = 1; uint64 size = 2</c>), written
/// here with the protobuf runtime directly because the generated type lives in the gRPC project.
/// </summary>
public static class ChunkList
{
    private const uint ChunksTag = (2 << 3) | 2, DigestTag = (1 << 3) | 2, SizeTag = 2 << 3;

    public static byte[] Encode(IReadOnlyList<ChunkMeta> chunks)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var output = new MemoryStream();
        var coded = new CodedOutputStream(output, leaveOpen: true);
        foreach (ChunkMeta chunk in chunks)
        {
            int size = 1 + 1 + B3Digest.Length + 1 + CodedOutputStream.ComputeUInt64Size((ulong)chunk.Size);
            coded.WriteTag(ChunksTag);
            coded.WriteLength(size);
            coded.WriteTag(DigestTag);
            coded.WriteBytes(chunk.Digest.ToByteString());
            coded.WriteTag(SizeTag);
            coded.WriteUInt64((ulong)chunk.Size);
        }
        coded.Flush();
        return output.ToArray();
    }

    /// <summary>The chunks in order; a malformed message, digest or size throws <see cref="InvalidDataException"/>.</summary>
    public static List<ChunkMeta> Decode(byte[] bytes)
    {
        var chunks = new List<ChunkMeta>();
        try
        {
            var input = new CodedInputStream(bytes);
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                if (tag != ChunksTag)
                {
                    input.SkipLastField(); // bao (3) and unknown fields
                    continue;
                }
                ByteString entry = input.ReadBytes();
                chunks.Add(DecodeChunk(new CodedInputStream(entry.ToByteArray())));
            }
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"not a StatBlobResponse ({e.Message})", e);
        }
        return chunks;
    }

    private static ChunkMeta DecodeChunk(CodedInputStream input)
    {
        ByteString? digest = null;
        ulong size = 0;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (tag == DigestTag)
                digest = input.ReadBytes();
            else if (tag == SizeTag)
                size = input.ReadUInt64();
            else
                input.SkipLastField();
        }
        if (digest is null || digest.Length != B3Digest.Length || size is 0 or > int.MaxValue)
            throw new InvalidDataException($"a chunk with a {digest?.Length ?? 0}-byte digest and size {size}");
        return new ChunkMeta(B3Digest.FromByteString(digest), (int)size);
    }
}
