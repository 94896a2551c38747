using System.CommandLine;
using Microsoft.Extensions.Logging;
using TvixLowFs.Store;

namespace TvixLowFs.Cli;

/// <summary>
/// Options every command accepts (recursive on the root): the three store addresses and the log level.
/// An address comes from its flag, else its environment variable, else the default local store
/// shared by all three services.
/// </summary>
public sealed class CommonOptions
{
    public const string BlobAddressVariable = "BLOB_SERVICE_ADDR";
    public const string DirectoryAddressVariable = "DIRECTORY_SERVICE_ADDR";
    public const string PathInfoAddressVariable = "PATH_INFO_SERVICE_ADDR";
    public const string DefaultStoreDescription = "$XDG_DATA_HOME/tvixlowfs, else ~/.local/share/tvixlowfs";

    public Option<string?> BlobServiceAddress { get; } = new("--blob-service-addr")
    {
        Description = $"Blob service address (env {BlobAddressVariable}).",
        Recursive = true,
        HelpName = "ADDR",
    };

    public Option<string?> DirectoryServiceAddress { get; } = new("--directory-service-addr")
    {
        Description = $"Directory service address (env {DirectoryAddressVariable}).",
        Recursive = true,
        HelpName = "ADDR",
    };

    public Option<string?> PathInfoServiceAddress { get; } = new("--path-info-service-addr")
    {
        Description = $"PathInfo service address (env {PathInfoAddressVariable}).",
        Recursive = true,
        HelpName = "ADDR",
    };

    public Option<LogLevel> LogLevel { get; } = new("--log-level")
    {
        Description = "Least severe messages logged to stderr: Trace, Debug, Information, Warning, Error, Critical or None.",
        Recursive = true,
        DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Warning,
        HelpName = "LEVEL",
    };

    public void AddTo(Command root)
    {
        ArgumentNullException.ThrowIfNull(root);
        root.Add(BlobServiceAddress);
        root.Add(DirectoryServiceAddress);
        root.Add(PathInfoServiceAddress);
        root.Add(LogLevel);
    }

    public LogLevel LogLevelOf(ParseResult parseResult) => parseResult.GetValue(LogLevel);

    /// <summary>The three addresses, parsed; a bad one is a <see cref="StoreAddressException"/> naming it.</summary>
    public (StoreAddress Blobs, StoreAddress Directories, StoreAddress PathInfos) ResolveAddresses(
        ParseResult parseResult, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        ArgumentNullException.ThrowIfNull(environment);
        StoreAddress? fallback = null;
        StoreAddress Resolve(Option<string?> option, string variable)
        {
            string? text = parseResult.GetValue(option);
            if (string.IsNullOrEmpty(text))
                text = environment(variable);
            if (!string.IsNullOrEmpty(text))
                return StoreAddress.Parse(text);
            return fallback ??= StoreAddress.ForLocalDirectory(DefaultStoreDirectory(environment));
        }
        return (Resolve(BlobServiceAddress, BlobAddressVariable),
                Resolve(DirectoryServiceAddress, DirectoryAddressVariable),
                Resolve(PathInfoServiceAddress, PathInfoAddressVariable));
    }

    /// <summary><c>$XDG_DATA_HOME/tvixlowfs</c>, falling back to <c>$HOME/.local/share/tvixlowfs</c> (XDG base directory rules).</summary>
    public static string DefaultStoreDirectory(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        string? dataHome = environment("XDG_DATA_HOME");
        // The XDG spec says a relative value is invalid and must be ignored.
        if (!string.IsNullOrEmpty(dataHome) && Path.IsPathFullyQualified(dataHome))
            return Path.Join(dataHome, "tvixlowfs");
        string? home = environment("HOME");
        if (string.IsNullOrEmpty(home))
            home = System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile);
        if (string.IsNullOrEmpty(home))
            throw new IOException("cannot find the default store: neither XDG_DATA_HOME nor HOME is set; give --blob-service-addr and friends");
        return Path.Join(home, ".local", "share", "tvixlowfs");
    }
}
