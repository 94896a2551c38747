using System.Buffers.Binary;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>
/// A directory's closure as one object: its canonical Directory messages, each preceded by its
/// length as a big-endian u32 (tokio's LengthDelimitedCodec, as snix writes them), the directory
/// itself first, then its descendants breadth-first, each once.
/// </summary>
internal static class DirectoryClosure
{
    public static byte[] Encode(B3Digest root, IReadOnlyDictionary<B3Digest, VerifiedDirectory> known)
    {
        var output = new MemoryStream();
        Span<byte> length = stackalloc byte[4];
        var seen = new HashSet<B3Digest> { root };
        var pending = new Queue<B3Digest>();
        pending.Enqueue(root);
        while (pending.TryDequeue(out B3Digest digest))
        {
            VerifiedDirectory entry = known[digest];
            BinaryPrimitives.WriteUInt32BigEndian(length, (uint)entry.Canonical.Length);
            output.Write(length);
            output.Write(entry.Canonical.Span);
            foreach (DirectoryNode child in entry.Message.Directories)
            {
                B3Digest childDigest = B3Digest.FromByteString(child.Digest);
                if (seen.Add(childDigest))
                    pending.Enqueue(childDigest);
            }
        }
        return output.ToArray();
    }

    /// <summary>
    /// The first <paramref name="limit"/> messages of a closure object (all when null), each keyed
    /// by the BLAKE3 of its bytes (hashed once, as they are), so a message only ever answers for the
    /// digest it hashes to. Returns false when the framing is cut short (a prefix read) or broken;
    /// a message that does not decode, breaks a rule or is not canonical is a
    /// <see cref="StoreValidationException"/>.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> bytes, int? limit, List<VerifiedDirectory> entries)
    {
        while (bytes.Length > 0 && (limit is null || entries.Count < limit))
        {
            if (bytes.Length < 4)
                return false;
            uint length = BinaryPrimitives.ReadUInt32BigEndian(bytes);
            if (length > bytes.Length - 4)
                return false;
            entries.Add(VerifiedDirectory.FromCanonical(bytes.Slice(4, (int)length).ToArray()));
            bytes = bytes[(4 + (int)length)..];
        }
        return true;
    }
}
