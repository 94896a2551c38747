using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>
/// Where each object lives in the bucket, as snix lays out a castore (plus PathInfos):
/// <c>PREFIX/blobs/b3/SHARD/HEX</c> (a blob's chunk list), <c>PREFIX/chunks/b3/SHARD/HEX</c>
/// (a chunk's zstd bytes), <c>PREFIX/dirs/b3/SHARD/HEX</c> (a directory's closure) and
/// <c>PREFIX/pathinfos/NIXBASE32</c>; SHARD is the first two digest bytes in lowercase hex.
/// </summary>
public static class ObjectKeys
{
    public static string Blob(string prefix, B3Digest digest) => Sharded(prefix, "blobs", digest);

    public static string Chunk(string prefix, B3Digest digest) => Sharded(prefix, "chunks", digest);

    public static string Directory(string prefix, B3Digest digest) => Sharded(prefix, "dirs", digest);

    public static string PathInfos(string prefix) => prefix + "pathinfos/";

    public static string PathInfo(string prefix, StorePathHash hash)
    {
        Span<byte> bytes = stackalloc byte[StorePathHash.Length];
        hash.CopyTo(bytes);
        return PathInfos(prefix) + NixBase32.Encode(bytes);
    }

    private static string Sharded(string prefix, string kind, B3Digest digest)
    {
        string hex = digest.ToHex();
        return $"{prefix}{kind}/b3/{hex[..4]}/{hex}";
    }
}
