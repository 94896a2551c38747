namespace TvixLowFs.Store;

/// <summary>The kinds of store a <see cref="StoreAddress"/> can name.</summary>
public enum StoreAddressKind
{
    /// <summary><c>memory://</c>: in this process only.</summary>
    Memory,
    /// <summary><c>local:///ABS/DIR</c>: the embedded on-disk store.</summary>
    Local,
    /// <summary><c>grpc+http://HOST:PORT</c>: a tvix store daemon over cleartext HTTP/2.</summary>
    GrpcHttp,
    /// <summary><c>grpc+unix:///ABS/SOCKET</c>: a tvix store daemon on a unix socket.</summary>
    GrpcUnix,
}

/// <summary>
/// A parsed store address. Parsing is strict: anything but the four forms is one
/// <see cref="StoreAddressException"/> whose message names the address.
/// </summary>
public sealed class StoreAddress : IEquatable<StoreAddress>
{
    public const string Forms = "memory://, local:///ABS/DIR, grpc+http://HOST:PORT or grpc+unix:///ABS/SOCKET";

    private StoreAddress(string text, StoreAddressKind kind, string? path, string? host, int port)
    {
        Text = text;
        Kind = kind;
        Path = path;
        Host = host;
        Port = port;
    }

    /// <summary>The address as given.</summary>
    public string Text { get; }
    public StoreAddressKind Kind { get; }
    /// <summary>The store directory (local) or socket path (grpc+unix), absolute and without a trailing slash.</summary>
    public string? Path { get; }
    /// <summary>The host (grpc+http).</summary>
    public string? Host { get; }
    /// <summary>The port (grpc+http).</summary>
    public int Port { get; }

    public static StoreAddress Memory { get; } = new("memory://", StoreAddressKind.Memory, null, null, 0);

    public static StoreAddress ForLocalDirectory(string directory)
    {
        string full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(directory));
        return new StoreAddress("local://" + full, StoreAddressKind.Local, full, null, 0);
    }

    public static StoreAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int separator = text.IndexOf("://", StringComparison.Ordinal);
        if (separator <= 0)
            throw new StoreAddressException(text, $"not a URL; expected {Forms}");
        string scheme = text[..separator];
        string rest = text[(separator + 3)..];
        switch (scheme)
        {
            case "memory":
                if (rest.Length != 0)
                    throw new StoreAddressException(text, "memory:// takes no host or path");
                return new StoreAddress(text, StoreAddressKind.Memory, null, null, 0);
            case "local":
                return new StoreAddress(text, StoreAddressKind.Local, AbsolutePath(text, rest, "local:///ABS/DIR"), null, 0);
            case "grpc+unix":
                return new StoreAddress(text, StoreAddressKind.GrpcUnix, AbsolutePath(text, rest, "grpc+unix:///ABS/SOCKET"), null, 0);
            case "grpc+http":
                (string host, int port) = HostAndPort(text, rest);
                return new StoreAddress(text, StoreAddressKind.GrpcHttp, null, host, port);
            default:
                throw new StoreAddressException(text, $"unknown scheme '{scheme}'; expected {Forms}");
        }
    }

    private static string AbsolutePath(string text, string rest, string form)
    {
        if (!rest.StartsWith('/'))
            throw new StoreAddressException(text, $"needs an empty host and an absolute path, as in {form}");
        if (rest.Contains('\0') || rest.Contains('?') || rest.Contains('#'))
            throw new StoreAddressException(text, "the path may not contain NUL, '?' or '#'");
        string full = System.IO.Path.GetFullPath(rest);
        return full.Length > 1 ? System.IO.Path.TrimEndingDirectorySeparator(full) : full;
    }

    private static (string Host, int Port) HostAndPort(string text, string rest)
    {
        rest = rest.EndsWith('/') ? rest[..^1] : rest;
        int colon = rest.LastIndexOf(':');
        if (colon <= 0 || rest.Contains('/') || rest.Contains('?') || rest.Contains('#'))
            throw new StoreAddressException(text, "expected grpc+http://HOST:PORT");
        string host = rest[..colon];
        string portText = rest[(colon + 1)..];
        if (!int.TryParse(portText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            throw new StoreAddressException(text, $"port '{portText}' is not a number from 1 to 65535");
        if (host.StartsWith('[') != host.EndsWith(']') || Uri.CheckHostName(host.Trim('[', ']')) == UriHostNameType.Unknown)
            throw new StoreAddressException(text, $"'{host}' is not a host name or IP address");
        return (host, port);
    }

    public bool Equals(StoreAddress? other) =>
        other is not null && Kind == other.Kind && Path == other.Path && Host == other.Host && Port == other.Port;

    public override bool Equals(object? obj) => Equals(obj as StoreAddress);
    public override int GetHashCode() => HashCode.Combine(Kind, Path, Host, Port);
    public override string ToString() => Text;
}

/// <summary>A store address that could not be parsed; the message names it and says why.</summary>
public sealed class StoreAddressException(string address, string reason)
    : FormatException($"invalid store address '{address}': {reason}")
{
    public string Address { get; } = address;
}
