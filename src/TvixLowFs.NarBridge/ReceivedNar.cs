using TvixLowFs.Protos.Castore;

namespace TvixLowFs.NarBridge;

/// <summary>
/// A NAR upload ingested and verified: the file hash its URL named (checked against the body),
/// the NAR's own size and SHA-256 (computed while ingesting), and the root node (no name yet) its
/// blobs and directories form. A narinfo PUT with that NarHash and NarSize registers it.
/// </summary>
public sealed record ReceivedNar(byte[] FileSha256, long FileSize, ulong NarSize, byte[] NarSha256, Node Root, DateTimeOffset ReceivedAt);
