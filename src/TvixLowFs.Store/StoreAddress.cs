using TvixLowFs.Store.Model.BinaryCache;

namespace TvixLowFs.Store;

/// <summary>The kinds of store a <see cref="StoreAddress"/> can name.</summary>
public enum StoreAddressKind
{
    /// <summary><c>memory://</c>: in this process only.</summary>
    Memory,
    /// <summary><c>local:///ABS/DIR</c>: the embedded on-disk store.</summary>
    Local,
    /// <summary>
    /// <c>grpc+http://HOST:PORT</c>: a tvix store daemon over cleartext HTTP/2, or over TLS as
    /// <c>grpc+https://HOST:PORT</c> (<see cref="StoreAddress.Tls"/>).
    /// </summary>
    GrpcHttp,
    /// <summary><c>grpc+unix:///ABS/SOCKET</c>: a tvix store daemon on a unix socket.</summary>
    GrpcUnix,
    /// <summary><c>nix+http(s)://HOST[:PORT][/PATH]</c>: a Nix binary cache (PathInfos only).</summary>
    NixHttp,
    /// <summary><c>objectstore+s3://BUCKET[/PREFIX]?aws_endpoint=…</c>: a castore and PathInfos in an S3 bucket.</summary>
    ObjectStoreS3,
}

/// <summary>
/// A parsed store address. Parsing is strict: anything but the forms of <see cref="Forms"/> is one
/// <see cref="StoreAddressException"/> whose message names the address.
/// </summary>
public sealed class StoreAddress : IEquatable<StoreAddress>
{
    public const string Forms = "memory://, local:///ABS/DIR, grpc+http://HOST:PORT, grpc+https://HOST:PORT, grpc+unix:///ABS/SOCKET, nix+http(s)://HOST[:PORT][/PATH] (PathInfos only) or objectstore+s3://BUCKET[/PREFIX]?OPTIONS";

    /// <summary>grpc+https query options, spelled as snix spells them: the CA to trust instead of the system's.</summary>
    public const string TlsCaCertOption = "tls-ca-cert-path";

    /// <summary>grpc+https query options: the client certificate (PEM) presented to the daemon, with its key.</summary>
    public const string TlsClientCertOption = "tls-client-cert-path";

    /// <summary>grpc+https query options: the client certificate's private key (PEM).</summary>
    public const string TlsClientKeyOption = "tls-client-key-path";

    /// <summary>How long a nix+http store remembers that a path is absent, unless the address says otherwise.</summary>
    public static readonly TimeSpan DefaultNegativeTtl = TimeSpan.FromSeconds(30);

    private StoreAddress(string text, StoreAddressKind kind, string? path, string? host, int port)
    {
        Text = text;
        Kind = kind;
        Path = path;
        Host = host;
        Port = port;
    }

    private StoreAddress(string text, Uri binaryCache, IReadOnlyList<NixPublicKey> trustedKeys, TimeSpan negativeTtl)
        : this(text, StoreAddressKind.NixHttp, null, binaryCache.Host, binaryCache.Port)
    {
        BinaryCache = binaryCache;
        TrustedPublicKeys = trustedKeys;
        NegativeTtl = negativeTtl;
    }

    private StoreAddress(string text, string bucket, string prefix, IReadOnlyDictionary<string, string> options)
        : this(text, StoreAddressKind.ObjectStoreS3, null, null, 0)
    {
        Bucket = bucket;
        Prefix = prefix;
        ObjectStoreOptions = options;
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

    /// <summary>memory:// or local://: served from this machine's memory or disk, no network between.</summary>
    public bool IsOnThisMachine => Kind is StoreAddressKind.Memory or StoreAddressKind.Local;

    /// <summary>grpc+https: HTTP/2 over TLS, the daemon's certificate checked against the system trust store or <see cref="TlsCaCertPath"/>.</summary>
    public bool Tls { get; private init; }

    /// <summary>grpc+https <c>tls-ca-cert-path</c>: a PEM file of the CA certificates to trust instead of the system's; null: the system's.</summary>
    public string? TlsCaCertPath { get; private init; }

    /// <summary>grpc+https <c>tls-client-cert-path</c>: a PEM client certificate to present (with <see cref="TlsClientKeyPath"/>).</summary>
    public string? TlsClientCertPath { get; private init; }

    /// <summary>grpc+https <c>tls-client-key-path</c>: the PEM private key of <see cref="TlsClientCertPath"/>.</summary>
    public string? TlsClientKeyPath { get; private init; }

    /// <summary>The binary cache's base URL (nix+http(s)), http:// or https://, ending with '/'.</summary>
    public Uri? BinaryCache { get; }

    /// <summary>The keys whose signatures make a narinfo trusted (nix+http(s) <c>trusted-public-keys</c>); empty: signatures not required.</summary>
    public IReadOnlyList<NixPublicKey> TrustedPublicKeys { get; } = [];

    /// <summary>How long an absent path is remembered as absent (nix+http(s) <c>negative-ttl</c>, seconds).</summary>
    public TimeSpan NegativeTtl { get; } = DefaultNegativeTtl;

    /// <summary>The bucket (objectstore+s3).</summary>
    public string? Bucket { get; }

    /// <summary>The key prefix inside the bucket (objectstore+s3): empty, or ending with '/'.</summary>
    public string Prefix { get; } = "";

    /// <summary>The query options (objectstore+s3), by name: <see cref="ObjectStoreOptionNames"/>.</summary>
    public IReadOnlyDictionary<string, string> ObjectStoreOptions { get; } = new Dictionary<string, string>();

    /// <summary>The options an objectstore+s3 address takes, as snix passes them to the Rust object_store crate.</summary>
    public static readonly IReadOnlyList<string> ObjectStoreOptionNames =
        ["aws_endpoint", "aws_region", "aws_allow_http", "aws_access_key_id", "aws_secret_access_key", "aws_session_token"];

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
                (string host, int port) = HostAndPort(text, rest, "grpc+http");
                return new StoreAddress(text, StoreAddressKind.GrpcHttp, null, host, port);
            case "grpc+https":
                return ParseGrpcHttps(text, rest);
            case "nix+http":
            case "nix+https":
                return ParseBinaryCache(text, scheme[4..], rest);
            case "objectstore+s3":
                return ParseObjectStore(text, rest);
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

    private static (string Host, int Port) HostAndPort(string text, string rest, string scheme)
    {
        rest = rest.EndsWith('/') ? rest[..^1] : rest;
        int colon = rest.LastIndexOf(':');
        if (colon <= 0 || rest.Contains('/') || rest.Contains('?') || rest.Contains('#'))
            throw new StoreAddressException(text, $"expected {scheme}://HOST:PORT");
        string host = rest[..colon];
        string portText = rest[(colon + 1)..];
        if (!int.TryParse(portText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            throw new StoreAddressException(text, $"port '{portText}' is not a number from 1 to 65535");
        if (host.StartsWith('[') != host.EndsWith(']') || Uri.CheckHostName(host.Trim('[', ']')) == UriHostNameType.Unknown)
            throw new StoreAddressException(text, $"'{host}' is not a host name or IP address");
        return (host, port);
    }

    /// <summary>
    /// <c>grpc+https://HOST:PORT[?tls-ca-cert-path=PEM][&amp;tls-client-cert-path=PEM&amp;tls-client-key-path=PEM]</c>,
    /// the query as snix reads it. Paths must be absolute; a client certificate needs its key and the other way round.
    /// </summary>
    private static StoreAddress ParseGrpcHttps(string text, string rest)
    {
        string query = "";
        int queryStart = rest.IndexOf('?', StringComparison.Ordinal);
        if (queryStart >= 0)
        {
            query = rest[(queryStart + 1)..];
            rest = rest[..queryStart];
        }
        (string host, int port) = HostAndPort(text, rest, "grpc+https");
        string? ca = null, cert = null, key = null;
        foreach (string pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            string name = FormDecode(equals < 0 ? pair : pair[..equals]);
            string value = equals < 0 ? "" : Uri.UnescapeDataString(pair[(equals + 1)..]);
            if (!value.StartsWith('/') || value.Contains('\0'))
                throw new StoreAddressException(text, $"{name} must be an absolute file path");
            switch (name)
            {
                case TlsCaCertOption: ca = value; break;
                case TlsClientCertOption: cert = value; break;
                case TlsClientKeyOption: key = value; break;
                default:
                    throw new StoreAddressException(text, $"unknown option '{name}'; grpc+https takes {TlsCaCertOption}, {TlsClientCertOption} and {TlsClientKeyOption}");
            }
        }
        if ((cert is null) != (key is null))
            throw new StoreAddressException(text, $"{TlsClientCertOption} and {TlsClientKeyOption} go together");
        return new StoreAddress(text, StoreAddressKind.GrpcHttp, null, host, port)
        {
            Tls = true,
            TlsCaCertPath = ca,
            TlsClientCertPath = cert,
            TlsClientKeyPath = key,
        };
    }

    /// <summary>
    /// <c>nix+http(s)://HOST[:PORT][/PATH]?trusted-public-keys=NAME:KEY[+NAME:KEY...]&amp;negative-ttl=SECONDS</c>.
    /// The query is form-encoded as snix reads it: keys are separated by spaces, written <c>%20</c> or
    /// <c>+</c>. A base64 key may itself hold '+' (it should be written %2B): a piece without a ':' can
    /// only be the rest of the key before it, so it is joined back with '+' (snix would reject it).
    /// </summary>
    private static StoreAddress ParseBinaryCache(string text, string httpScheme, string rest)
    {
        string query = "";
        int queryStart = rest.IndexOf('?', StringComparison.Ordinal);
        if (queryStart >= 0)
        {
            query = rest[(queryStart + 1)..];
            rest = rest[..queryStart];
        }
        if (rest.Contains('#') || rest.Length == 0 || rest.StartsWith('/'))
            throw new StoreAddressException(text, $"expected nix+{httpScheme}://HOST[:PORT][/PATH]");
        if (!Uri.TryCreate($"{httpScheme}://{rest.TrimEnd('/')}/", UriKind.Absolute, out Uri? baseUri)
            || baseUri.UserInfo.Length != 0 || Uri.CheckHostName(baseUri.IdnHost) == UriHostNameType.Unknown)
            throw new StoreAddressException(text, $"'{rest}' is not HOST[:PORT][/PATH]");

        IReadOnlyList<NixPublicKey> keys = [];
        TimeSpan negativeTtl = DefaultNegativeTtl;
        foreach (string pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            string name = FormDecode(equals < 0 ? pair : pair[..equals]);
            string value = equals < 0 ? "" : FormDecode(pair[(equals + 1)..]);
            switch (name)
            {
                case "trusted-public-keys":
                    keys = ParseKeys(text, value);
                    break;
                case "negative-ttl":
                    if (!double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double seconds)
                        || !double.IsFinite(seconds) || seconds < 0 || seconds > 86400)
                        throw new StoreAddressException(text, $"negative-ttl '{value}' is not a number of seconds from 0 to 86400");
                    negativeTtl = TimeSpan.FromSeconds(seconds);
                    break;
                default:
                    throw new StoreAddressException(text, $"unknown option '{name}'; nix+{httpScheme} takes trusted-public-keys and negative-ttl");
            }
        }
        return new StoreAddress(text, baseUri, keys, negativeTtl);
    }

    /// <summary><c>objectstore+s3://BUCKET[/PREFIX]?aws_endpoint=URL&amp;aws_region=R&amp;…</c> (<see cref="ObjectStoreOptionNames"/>).</summary>
    private static StoreAddress ParseObjectStore(string text, string rest)
    {
        string query = "";
        int queryStart = rest.IndexOf('?', StringComparison.Ordinal);
        if (queryStart >= 0)
        {
            query = rest[(queryStart + 1)..];
            rest = rest[..queryStart];
        }
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        string bucket = slash < 0 ? rest : rest[..slash];
        string prefix = slash < 0 ? "" : rest[(slash + 1)..].Trim('/');
        // S3's bucket naming rules: 3 to 63 of lowercase letters, digits, '.' and '-'.
        if (bucket.Length is < 3 or > 63 || !bucket.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-'))
            throw new StoreAddressException(text, $"'{bucket}' is not an S3 bucket name; expected objectstore+s3://BUCKET[/PREFIX]?OPTIONS");
        if (rest.Contains('#') || prefix.Contains("//", StringComparison.Ordinal))
            throw new StoreAddressException(text, "the prefix may not contain '#' or an empty path segment");
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            string name = FormDecode(equals < 0 ? pair : pair[..equals]);
            string value = equals < 0 ? "" : FormDecode(pair[(equals + 1)..]);
            if (!ObjectStoreOptionNames.Contains(name))
                throw new StoreAddressException(text, $"unknown option '{name}'; objectstore+s3 takes {string.Join(", ", ObjectStoreOptionNames)}");
            options[name] = value;
        }
        if (options.TryGetValue("aws_allow_http", out string? allowHttp) && allowHttp is not ("true" or "false"))
            throw new StoreAddressException(text, $"aws_allow_http '{allowHttp}' is not true or false");
        if (options.TryGetValue("aws_endpoint", out string? endpoint)
            && (!Uri.TryCreate(endpoint, UriKind.Absolute, out Uri? endpointUri) || endpointUri.Scheme is not ("http" or "https")))
            throw new StoreAddressException(text, $"aws_endpoint '{endpoint}' is not an http:// or https:// URL");
        if (endpoint is not null && endpoint.StartsWith("http://", StringComparison.Ordinal) && allowHttp != "true")
            throw new StoreAddressException(text, $"aws_endpoint '{endpoint}' is cleartext http: add aws_allow_http=true");
        return new StoreAddress(text, bucket, prefix.Length == 0 ? "" : prefix + "/", options);
    }

    private static string FormDecode(string text) => Uri.UnescapeDataString(text.Replace('+', ' '));

    private static List<NixPublicKey> ParseKeys(string text, string value)
    {
        // Empty pieces are kept: a run of raw '+' inside a key decodes to a run of spaces. A valid key's
        // base64 (32 bytes) ends with '=', so '+' left at a key's end can only be an extra separator.
        var pieces = new List<string>();
        foreach (string piece in value.Split(' '))
        {
            if (piece.Contains(':', StringComparison.Ordinal) || (pieces.Count == 0 && piece.Length > 0))
                pieces.Add(piece);
            else if (pieces.Count > 0)
                pieces[^1] += "+" + piece;
        }
        for (int i = 0; i < pieces.Count; i++)
            pieces[i] = pieces[i].TrimEnd('+');
        var keys = new List<NixPublicKey>(pieces.Count);
        foreach (string piece in pieces)
        {
            try
            {
                keys.Add(NixPublicKey.Parse(piece));
            }
            catch (FormatException e)
            {
                throw new StoreAddressException(text, $"trusted public key '{piece}': {e.Message}");
            }
        }
        return keys;
    }

    public bool Equals(StoreAddress? other) =>
        other is not null && Kind == other.Kind && Path == other.Path && Host == other.Host && Port == other.Port
        && BinaryCache == other.BinaryCache && Tls == other.Tls && TlsCaCertPath == other.TlsCaCertPath
        && TlsClientCertPath == other.TlsClientCertPath && TlsClientKeyPath == other.TlsClientKeyPath
        && Bucket == other.Bucket && Prefix == other.Prefix
        && ObjectStoreOptions.Count == other.ObjectStoreOptions.Count
        && ObjectStoreOptions.All(option => other.ObjectStoreOptions.TryGetValue(option.Key, out string? value) && value == option.Value);

    public override bool Equals(object? obj) => Equals(obj as StoreAddress);
    public override int GetHashCode() => HashCode.Combine(Kind, Path, Host, Port, BinaryCache, Tls, Bucket, Prefix);
    public override string ToString() => Text;
}

/// <summary>A store address that could not be parsed; the message names it and says why.</summary>
public sealed class StoreAddressException(string address, string reason)
    : FormatException($"invalid store address '{address}': {reason}")
{
    public string Address { get; } = address;
}
