using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// When, where and on what a benchmark run (e2e, binary-cache) was made: its report's first
/// lines, and a note when the machine was busy at the start.
/// </summary>
internal sealed class RunMetadata
{
    private readonly Stopwatch clock = Stopwatch.StartNew();

    public DateTime StartedUtc { get; } = DateTime.UtcNow;
    public string Machine { get; } = MachineDescription.Describe();
    public string LoadAtStart { get; } = MachineDescription.LoadAverage();
    public string LoadAtEnd { get; private set; } = "";
    public string SourceRevision { get; private set; } = "unknown";
    public TimeSpan Duration { get; private set; }

    /// <summary>Names the commit measured, when the run is in a checkout.</summary>
    public void DescribeSource(string? repository)
    {
        if (repository is not null) SourceRevision = E2e.SourceRevision.Describe(repository);
    }

    /// <summary>"the machine was not idle …" when the 1-minute load exceeded 0.5 at the start, else null.</summary>
    public string? BusyNote()
    {
        var load = LoadAtStart.Split(' ')[0];
        return double.TryParse(load, CultureInfo.InvariantCulture, out var value) && value > 0.5
            ? $"the machine was not idle at the start (1-minute load {load}): figures are noisy"
            : null;
    }

    public void Finish()
    {
        Duration = clock.Elapsed;
        LoadAtEnd = MachineDescription.LoadAverage();
    }

    /// <summary>The title, then the date, machine and load lines every report starts with.</summary>
    public void AppendHeader(StringBuilder text, string title)
    {
        text.AppendLine(CultureInfo.InvariantCulture, $"# {title}");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"- date: {StartedUtc:yyyy-MM-dd HH:mm} UTC (took {Duration.TotalMinutes:0.0} min)");
        text.AppendLine(CultureInfo.InvariantCulture, $"- machine: {Machine}");
        text.AppendLine(CultureInfo.InvariantCulture, $"- load average at start / end: {LoadAtStart} / {LoadAtEnd}");
    }
}
