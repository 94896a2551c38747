namespace TvixLowFs.Fuse;

/// <summary>
/// Where the binding reports what it cannot answer to anyone else (a handler that threw). The host
/// sets <see cref="Error"/> (e.g. to a logger); without it, lines go to stderr. No logging
/// framework dependency on purpose.
/// </summary>
public static class FuseDiagnostics
{
    public static Action<string>? Error { get; set; }

    internal static void Report(string message)
    {
        try
        {
            if (Error is { } error) error(message);
            else Console.Error.WriteLine(message);
        }
        catch
        {
            // Reporting must never take down a libfuse worker thread.
        }
    }
}
