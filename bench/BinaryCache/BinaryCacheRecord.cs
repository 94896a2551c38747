using TvixLowFs.Bench.E2e;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// Everything one binary-cache run produced, as the report needs it. TvixLowFsUnavailable says
/// why the tvixlowfs side could not run at all (no binary, no `copy`); its cells then say n/a.
/// </summary>
internal sealed record BinaryCacheRecord(RunMetadata Metadata, BinaryCacheOptions Options, BinaryCacheFixtures Fixtures, string Binary, string NixVersion, string? TvixLowFsUnavailable)
{
    public List<MeasuredScenario> Scenarios { get; } = [];
    public Measurements<BinaryCacheMetric> Measurements { get; } = new();
    public List<string> Notes { get; } = [];

    /// <summary>First failure per comparison and side; the run exits 1.</summary>
    public Dictionary<(BinaryCacheMetric Metric, string Side), string> Failures { get; } = [];

    /// <summary>What the first repetition checked, passed or failed (a failure makes the run exit 1).</summary>
    public (List<string> Passed, List<string> Failed) Verification { get; } = ([], []);

    public bool Failed => Failures.Count > 0 || Verification.Failed.Count > 0;
}
