using System.CommandLine;
using Microsoft.Extensions.Logging;
using TvixLowFs.NarBridge;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Model.BinaryCache;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Cli;

/// <summary>
/// <c>tvixlowfs nar-bridge [--listen-address HOST:PORT | unix:///ABS/PATH] [--writable] [--signing-key-file F] [--priority N]</c>:
/// serves the store the common options name as a Nix binary cache (GET for <c>nix copy --from</c>
/// and substitution; with <c>--writable</c> PUT for <c>nix copy --to</c>) until SIGINT/SIGTERM,
/// then stops gracefully and exits 0.
/// </summary>
public static class NarBridgeCommand
{
    /// <summary>Below System.CommandLine's two-second termination timeout, so the exit is ours and clean.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(1.5);

    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var listen = new ListenOptions(NarBridgeOptions.DefaultListenAddress, "", "there is no authentication; --writable lets anyone who reaches it push");
        var priority = new Option<int>("--priority")
        {
            Description = "The Priority nix-cache-info announces (lower is preferred; cache.nixos.org is 40); default 39.",
            DefaultValueFactory = _ => 39,
            HelpName = "N",
        };
        var signingKeyFile = new Option<string?>("--signing-key-file")
        {
            Description = "A Nix secret key (name:base64, from nix-store --generate-binary-cache-key): every narinfo served gets a Sig made with it.",
            HelpName = "FILE",
        };
        var writable = new Option<bool>("--writable")
        {
            Description = "Accept nix copy --to (PUT of NARs and narinfos); without it every PUT is refused with 403.",
        };
        var command = new Command("nar-bridge", "Serve the store as a Nix binary cache over HTTP (nix copy --from, substituters; with --writable also nix copy --to).")
        {
            listen.Address,
            listen.AllowNonLoopback,
            priority,
            signingKeyFile,
            writable,
        };
        command.SetAction(Program.Guarded(context, async (parseResult, cancellationToken) =>
        {
            if (listen.Parse(parseResult, context) is not { } address)
                return Program.ExitUsage;
            int priorityValue = parseResult.GetValue(priority);
            if (priorityValue < 0)
            {
                context.Error.WriteLine($"tvixlowfs: --priority {priorityValue}: a priority is 0 or more");
                return Program.ExitUsage;
            }
            NixSecretKey? key = null;
            if (parseResult.GetValue(signingKeyFile) is { } keyFile)
            {
                try
                {
                    key = NixSecretKey.Load(keyFile);
                }
                catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
                {
                    context.Error.WriteLine($"tvixlowfs: --signing-key-file {keyFile}: {Program.OneLine(e)}");
                    return Program.ExitUsage;
                }
            }
            var options = new NarBridgeOptions
            {
                Priority = priorityValue,
                SigningKey = key,
                Writable = parseResult.GetValue(writable),
                ShutdownGrace = StopGrace,
            };
            using ILoggerFactory loggers = context.CreateLoggerFactory(parseResult);
            await using StoreServices store = context.OpenStore(parseResult);
            var host = NarBridgeHost.Create(store, address, loggers, options);
            await using (host.ConfigureAwait(false))
            {
                await host.StartAsync(CancellationToken.None).ConfigureAwait(false);
                // The one line a script (or a test) waits for: where Nix reaches the cache.
                context.Error.WriteLine($"tvixlowfs: nar-bridge serving {host.BaseUrl} ({(options.Writable ? "writable" : "read-only")}"
                    + (key is null ? ")" : $", signing as {key.Name})"));
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // SIGINT/SIGTERM: the normal way to stop it.
                }
                await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }
            return 0;
        }));
        return command;
    }
}
