using NUnit.Framework;

namespace TvixLowFs.Tests.BinaryCache.Http;

/// <summary>Runs a real tool (xz, zstd, make, …) to completion with bounded time, stdout as bytes; a failure fails the test.</summary>
internal static class ExternalTool
{
    public static byte[] Run(string file, IEnumerable<string> arguments, byte[]? input = null)
    {
        string[] list = [.. arguments];
        ChildProcess.Result result;
        try
        {
            result = ChildProcess.Run(file, list, timeoutSeconds: 120, input: input);
        }
        catch (TimeoutException timeout)
        {
            throw new AssertionException(timeout.Message);
        }
        if (result.ExitCode != 0)
            throw new AssertionException($"{file} {string.Join(' ', list)} exited {result.ExitCode}: {result.Error}");
        return result.Stdout;
    }

    /// <summary>The bytes <paramref name="tool"/> (xz, zstd, bzip2, brotli, gzip) makes of <paramref name="data"/>, with extra flags.</summary>
    public static byte[] Compress(string tool, byte[] data, params string[] flags) =>
        Run(tool, [.. flags, "-c"], data);
}
