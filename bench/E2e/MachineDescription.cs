namespace TvixLowFs.Bench.E2e;

/// <summary>The machine a run was made on, as the report prints it.</summary>
internal static class MachineDescription
{
    public static string Describe()
    {
        var cpu = ReadField("/proc/cpuinfo", "model name") ?? "unknown CPU";
        var memoryKiB = ReadField("/proc/meminfo", "MemTotal")?.Split(' ')[0];
        var memory = long.TryParse(memoryKiB, out var kib) ? $"{kib / 1024.0 / 1024.0:0.0} GiB RAM" : "unknown RAM";
        var kernel = TryRead("/proc/sys/kernel/osrelease")?.Trim() ?? "unknown kernel";
        return $"{cpu}, nproc {Environment.ProcessorCount}, {memory}, Linux {kernel}, .NET {Environment.Version}";
    }

    /// <summary>The 1/5/15-minute load averages: other work on the machine makes numbers noisy.</summary>
    public static string LoadAverage() => string.Join(' ', (TryRead("/proc/loadavg") ?? "? ? ?").Split(' ').Take(3));

    private static string? ReadField(string path, string name)
    {
        var text = TryRead(path);
        if (text is null) return null;
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon > 0 && line[..colon].Trim() == name) return line[(colon + 1)..].Trim();
        }
        return null;
    }

    private static string? TryRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
