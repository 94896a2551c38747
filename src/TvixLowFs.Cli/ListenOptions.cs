using System.CommandLine;
using TvixLowFs.Store.Grpc.Server;

namespace TvixLowFs.Cli;

/// <summary>
/// <c>--listen-address</c> and <c>--allow-non-loopback</c>, as every server command (daemon,
/// nar-bridge) takes them: loopback unless allowed, a malformed address a usage error.
/// </summary>
internal sealed class ListenOptions
{
    private readonly string _defaultAddress;

    public ListenOptions(string defaultAddress, string unixSocketNote, string nonLoopbackWarning)
    {
        _defaultAddress = defaultAddress;
        Address = new Option<string>("--listen-address")
        {
            Description = $"HOST:PORT (an IP address or localhost) or unix:///ABS/PATH{unixSocketNote} to listen on; default {defaultAddress}.",
            DefaultValueFactory = _ => defaultAddress,
            HelpName = "ADDR",
        };
        AllowNonLoopback = new Option<bool>("--allow-non-loopback")
        {
            Description = $"Allow listening on a non-loopback address ({nonLoopbackWarning}).",
        };
    }

    public Option<string> Address { get; }

    public Option<bool> AllowNonLoopback { get; }

    /// <summary>The address asked for, or null after one line on stderr (the caller exits with usage).</summary>
    public ListenAddress? Parse(ParseResult parseResult, CliContext context)
    {
        try
        {
            return ListenAddress.Parse(parseResult.GetValue(Address) ?? _defaultAddress, parseResult.GetValue(AllowNonLoopback));
        }
        catch (FormatException e)
        {
            context.Error.WriteLine("tvixlowfs: --listen-address " + e.Message);
            return null;
        }
    }
}
