using System.CommandLine;
using Microsoft.Extensions.Logging;
using TvixLowFs.Store;
using TvixLowFs.Store.BinaryCache;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Cli;

/// <summary>
/// Options for stores not on this machine, on every command: the call deadlines, and the
/// read-through cache (its directory, or none).
/// </summary>
public sealed class RemoteStoreOptions
{
    public Option<string?> GrpcTimeout { get; } = new("--grpc-timeout")
    {
        Description = $"Deadline in seconds of each call to a grpc+ store, and the longest a transfer may stall (env {GrpcClientOptions.TimeoutEnvironmentVariable}; default {GrpcClientOptions.DefaultTimeout.TotalSeconds:0}).",
        Recursive = true,
        HelpName = "SECONDS",
    };

    public Option<string?> CacheDirectory { get; } = new("--cache-dir")
    {
        Description = "Local read-through cache of blobs and directories fetched from a store not on this machine (a grpc+ daemon, an objectstore+s3 bucket): mount's default is $XDG_CACHE_HOME/tvixlowfs, else ~/.cache/tvixlowfs (several mounts may share it); a daemon keeps one only when this is given.",
        Recursive = true,
        HelpName = "DIR",
    };

    public Option<double?> HttpTimeout { get; } = new("--http-timeout")
    {
        Description = "Longest a transfer from a nix+http(s) binary cache may stall, in seconds, before it is retried or fails (default 30).",
        Recursive = true,
        HelpName = "SECONDS",
    };

    public Option<bool> NoCache { get; } = new("--no-cache")
    {
        Description = "Do not keep what mount fetches from a store not on this machine (each open file is still fetched once, into an unlinked temp file).",
        Recursive = true,
    };

    public RemoteStoreOptions()
    {
        HttpTimeout.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<double?>() is { } seconds && (!double.IsFinite(seconds) || seconds <= 0 || seconds > 86400))
                result.AddError($"--http-timeout must be a number of seconds above 0 and at most 86400, got {seconds}");
        });
        GrpcTimeout.Validators.Add(result =>
        {
            string? text = result.GetValueOrDefault<string?>();
            if (string.IsNullOrEmpty(text))
                return;
            try
            {
                GrpcClientOptions.ParseTimeout(text);
            }
            catch (FormatException e)
            {
                result.AddError("--grpc-timeout " + e.Message);
            }
        });
    }

    public void AddTo(Command root)
    {
        ArgumentNullException.ThrowIfNull(root);
        root.Add(GrpcTimeout);
        root.Add(CacheDirectory);
        root.Add(HttpTimeout);
        root.Add(NoCache);
    }

    /// <summary>The flag, else the environment variable, else the default; a bad value is a <see cref="FormatException"/>.</summary>
    public GrpcClientOptions ClientOptions(ParseResult parseResult, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        ArgumentNullException.ThrowIfNull(environment);
        string? text = parseResult.GetValue(GrpcTimeout);
        if (!string.IsNullOrEmpty(text))
            return new GrpcClientOptions { Timeout = GrpcClientOptions.ParseTimeout(text) };
        text = environment(GrpcClientOptions.TimeoutEnvironmentVariable);
        if (string.IsNullOrEmpty(text))
            return new GrpcClientOptions();
        try
        {
            return new GrpcClientOptions { Timeout = GrpcClientOptions.ParseTimeout(text) };
        }
        catch (FormatException e)
        {
            // IOException is what the command line reports as a plain one-line error.
            throw new IOException($"{GrpcClientOptions.TimeoutEnvironmentVariable}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Puts the read-through cache in front of the blob and directory services of
    /// <paramref name="store"/> not on this machine, unless <c>--no-cache</c>; a store on this machine is returned as it is.
    /// </summary>
    public StoreServices WithCache(StoreServices store, ParseResult parseResult, Func<string, string?> environment,
        StoreAddress blobAddress, StoreAddress directoryAddress)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        return CacheDirectoryOf(parseResult, environment) is { } directory
            ? ReadThroughCache.Wrap(store, directory, blobAddress, directoryAddress)
            : store;
    }

    /// <summary>The <c>--cache-dir</c> (else <c>$XDG_CACHE_HOME/tvixlowfs</c>, else <c>~/.cache/tvixlowfs</c>), or null with <c>--no-cache</c>.</summary>
    public string? CacheDirectoryOf(ParseResult parseResult, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        ArgumentNullException.ThrowIfNull(environment);
        if (parseResult.GetValue(NoCache))
            return null;
        string? directory = parseResult.GetValue(CacheDirectory);
        if (!string.IsNullOrEmpty(directory))
            return directory;
        string? xdg = environment("XDG_CACHE_HOME");
        string? home = environment("HOME");
        return !string.IsNullOrEmpty(xdg) && Path.IsPathFullyQualified(xdg) ? Path.Join(xdg, "tvixlowfs")
            : !string.IsNullOrEmpty(home) ? Path.Join(home, ".cache", "tvixlowfs")
            : ReadThroughCache.DefaultDirectory();
    }

    /// <summary>How nix+http(s) PathInfo services are opened: their PathInfos kept below the cache directory.</summary>
    public BinaryCacheOpenOptions BinaryCacheOptions(ParseResult parseResult, Func<string, string?> environment, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        var http = new BinaryCacheHttpOptions();
        if (parseResult.GetValue(HttpTimeout) is { } seconds)
            http = new BinaryCacheHttpOptions { StallTimeout = TimeSpan.FromSeconds(seconds) };
        return new BinaryCacheOpenOptions
        {
            KeptDirectory = CacheDirectoryOf(parseResult, environment) is { } directory ? Path.GetFullPath(directory) : null,
            Http = http,
            Loggers = loggers,
        };
    }
}
