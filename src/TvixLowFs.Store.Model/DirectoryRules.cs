using TvixLowFs.Protos.Castore;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Model;

/// <summary>The rules of a valid Directory and its canonical digest (shared/PROTOCOL.md).</summary>
public static class DirectoryRules
{
    /// <summary>BLAKE3-256 of the canonical encoding (field order, defaults omitted, unknown fields dropped).</summary>
    public static B3Digest Digest(Directory directory) => throw new NotImplementedException();

    /// <summary>
    /// Checks every rule on one message: sorted unique names across the three lists, valid names,
    /// 32-byte digests, non-empty NUL-free symlink targets, and that its own size does not overflow.
    /// Throws <see cref="StoreValidationException"/> naming the rule and the entry.
    /// </summary>
    public static void Validate(Directory directory) => throw new NotImplementedException();

    /// <summary>The size a DirectoryNode pointing at this directory must carry (checked for overflow).</summary>
    public static ulong Size(Directory directory) => throw new NotImplementedException();

    /// <summary>1..255 bytes, not "." or "..", no '/' and no NUL.</summary>
    public static bool IsValidName(ReadOnlySpan<byte> name) => throw new NotImplementedException();

    /// <summary>Validates a single node (name, digest length, target) as it would appear in a Directory or as a PathInfo root.</summary>
    public static void ValidateNode(Node node, bool requireName = true) => throw new NotImplementedException();
}
