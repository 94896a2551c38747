using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using TvixLowFs.Cli;

namespace TvixLowFs.Tests.Cli;

public sealed record CliResult(int ExitCode, string Out, string Error)
{
    public string[] OutLines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>Runs tvixlowfs in-process through Program (fast) or as the built tvixlowfs.dll in a child process.</summary>
public static class CliRunner
{
    public static async Task<CliResult> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var context = new CliContext
        {
            Out = output,
            Error = error,
            Environment = name => environment.TryGetValue(name, out string? value) ? value : null,
            ErrorIsTerminal = false,
        };
        int exit = await Program.RunAsync(args, context);
        return new CliResult(exit, output.ToString(), error.ToString());
    }

    public static string DllPath => Path.Join(AppContext.BaseDirectory, "tvixlowfs.dll");

    /// <summary>Starts <c>dotnet tvixlowfs.dll ARGS</c> with exactly the given environment additions.</summary>
    public static Process Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DllPath);
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        foreach (string name in new[] { "BLOB_SERVICE_ADDR", "DIRECTORY_SERVICE_ADDR", "PATH_INFO_SERVICE_ADDR", "XDG_DATA_HOME" })
            start.Environment.Remove(name);
        foreach ((string name, string value) in environment)
            start.Environment[name] = value;
        return Process.Start(start)!;
    }

    public static async Task<CliResult> RunProcessAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        using Process process = Start(environment, args);
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new CliResult(process.ExitCode, await output, await error);
    }

    /// <summary>
    /// The store path <c>nix-store --add</c> gives for a NAR and a name, computed here from the
    /// description in shared/PROTOCOL.md, independently of NixStorePathBuilder and NixBase32.
    /// </summary>
    public static string NixAddPath(byte[] nar, string name)
    {
        string fingerprint = $"source:sha256:{Convert.ToHexStringLower(SHA256.HashData(nar))}:/nix/store:{name}";
        byte[] digest = SHA256.HashData(Encoding.ASCII.GetBytes(fingerprint));
        var folded = new byte[20];
        for (int i = 0; i < digest.Length; i++)
            folded[i % 20] ^= digest[i];
        const string alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
        var text = new StringBuilder();
        for (int k = 31; k >= 0; k--)
        {
            int bit = k * 5, at = bit / 8, shift = bit % 8;
            int value = folded[at] >> shift;
            if (at + 1 < folded.Length)
                value |= folded[at + 1] << (8 - shift);
            text.Append(alphabet[value & 31]);
        }
        return $"/nix/store/{text}-{name}";
    }
}
