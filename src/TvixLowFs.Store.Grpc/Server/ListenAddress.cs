using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// Where the daemon listens: <c>HOST:PORT</c> (an IP literal, IPv6 in brackets, or <c>localhost</c>)
/// or <c>unix:///ABS/PATH</c>. Port 0 picks a free port.
/// </summary>
public sealed class ListenAddress
{
    public const string Default = "[::1]:8000";

    private ListenAddress(IPEndPoint? tcp, string? unixPath)
    {
        Tcp = tcp;
        UnixPath = unixPath;
    }

    public IPEndPoint? Tcp { get; }
    public string? UnixPath { get; }

    /// <summary>
    /// Parses an address; a non-loopback host is refused unless <paramref name="allowNonLoopback"/>,
    /// because the protocol has no authentication. Throws <see cref="FormatException"/> saying why.
    /// </summary>
    public static ListenAddress Parse(string text, bool allowNonLoopback = false)
    {
        if (text.StartsWith("unix://", StringComparison.Ordinal))
        {
            string path = text["unix://".Length..];
            if (!path.StartsWith('/') || path.Length < 2)
                throw new FormatException($"'{text}': a unix socket address is unix:///ABSOLUTE/PATH");
            return new ListenAddress(null, path);
        }
        if (text.Contains("://", StringComparison.Ordinal))
            throw new FormatException($"'{text}': a listen address is HOST:PORT or unix:///ABSOLUTE/PATH");
        int colon = text.LastIndexOf(':');
        if (colon <= 0)
            throw new FormatException($"'{text}': a listen address is HOST:PORT or unix:///ABSOLUTE/PATH");
        string host = text[..colon];
        if (!ushort.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, null, out ushort port))
            throw new FormatException($"'{text}': the port must be a number 0..65535");
        IPAddress address;
        if (host == "localhost")
            address = IPAddress.Loopback;
        else
        {
            string literal = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
            if (!IPAddress.TryParse(literal, out address!) || (address.AddressFamily == AddressFamily.InterNetworkV6) != host.StartsWith('['))
                throw new FormatException($"'{text}': the host must be an IP address (IPv6 in brackets) or localhost");
        }
        if (!allowNonLoopback && !IPAddress.IsLoopback(address))
            throw new FormatException($"'{text}': not a loopback address; the protocol has no authentication (allow it explicitly)");
        return new ListenAddress(new IPEndPoint(address, port), null);
    }

    public override string ToString() => UnixPath is not null ? "unix://" + UnixPath : HostAndPort(Tcp!.Port);

    /// <summary>
    /// <c>HOST:PORT</c> of a TCP address with the port the server actually bound (port 0 picks
    /// one), as clients spell it: an IPv6 host in brackets.
    /// </summary>
    public string HostAndBoundPort(IServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        string bound = server.Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return HostAndPort(new Uri(bound).Port);
    }

    private string HostAndPort(int port) =>
        Tcp!.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{Tcp.Address}]:{port}" : $"{Tcp.Address}:{port}";
}
