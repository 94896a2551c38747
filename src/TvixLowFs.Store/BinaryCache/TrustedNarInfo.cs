using TvixLowFs.Store.Model.BinaryCache;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>A narinfo that parsed and passed the trust rule, with the reason it is trusted (a CA-trusted path's contents are checked at ingestion).</summary>
public sealed record TrustedNarInfo(NarInfo NarInfo, SignatureVerdict Verdict);
