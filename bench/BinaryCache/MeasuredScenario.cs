namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// One comparison as the report states it: what each side ran, how many NAR bytes it moved, and
/// issue 12's target. SpeedUp targets are peer time / tvixlowfs time (at least Threshold); the
/// others tvixlowfs time / peer time (at most Threshold).
/// </summary>
internal sealed record MeasuredScenario(BinaryCacheMetric Metric, string Title, string TvixLowFsCommand, string PeerCommand, long NarBytes, bool SpeedUp, double Threshold, string TargetLabel);
