using TvixLowFs.Protos.Castore;

namespace TvixLowFs.Store.Nar;

/// <summary>
/// What <see cref="NarIngester.IngestAsync"/> stored: the root node (with an empty name), and the
/// size and SHA-256 of the NAR it read, to be checked against a narinfo's NarSize and NarHash.
/// </summary>
public sealed record NarIngestResult(Node Root, ulong NarSize, byte[] NarSha256);
