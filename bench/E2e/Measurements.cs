namespace TvixLowFs.Bench.E2e;

/// <summary>What is measured, per system: the five workloads plus the server figures.</summary>
internal enum Metric
{
    W1, W2, W3, W4, W5,
    /// <summary>Process start → mounted and the root answering a stat, binary in the page cache (ms).</summary>
    SpawnWarm,
    /// <summary>The same right after drop_caches, as each cycle's mount sees it (ms).</summary>
    SpawnCold,
    /// <summary>VmHWM of the server after a fresh mount ran W3 and W4 (bytes).</summary>
    PeakResident,
}

/// <summary>
/// Every sample of every repetition, keyed by metric and system name; the report takes medians.
/// Generic over the metric so the binary-cache benchmark (bench/BinaryCache) keeps its own.
/// </summary>
internal sealed class Measurements<TMetric> where TMetric : struct, Enum
{
    private readonly Dictionary<(TMetric, string), List<double>> samples = [];

    public void Add(TMetric metric, string system, double value)
    {
        if (!samples.TryGetValue((metric, system), out var list)) samples[(metric, system)] = list = [];
        list.Add(value);
    }

    public IReadOnlyList<double> Samples(TMetric metric, string system) =>
        samples.TryGetValue((metric, system), out var list) ? list : [];

    public double? Median(TMetric metric, string system)
    {
        var list = Samples(metric, system);
        if (list.Count == 0) return null;
        var sorted = list.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    public IEnumerable<(TMetric Metric, string System, IReadOnlyList<double> Values)> All() =>
        samples.OrderBy(p => p.Key.Item1).ThenBy(p => p.Key.Item2, StringComparer.Ordinal).Select(p => (p.Key.Item1, p.Key.Item2, (IReadOnlyList<double>)p.Value));
}
