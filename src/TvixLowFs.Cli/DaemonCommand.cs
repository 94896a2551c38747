using System.CommandLine;
using Microsoft.Extensions.Logging;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Cli;

/// <summary>
/// <c>tvixlowfs daemon [--listen-address HOST:PORT | unix:///ABS/PATH]</c>: serves the store the
/// common options name (memory, local, or another daemon as upstream) over the tvix gRPC
/// protocol until SIGINT/SIGTERM, then stops gracefully and exits 0.
/// </summary>
public static class DaemonCommand
{
    /// <summary>
    /// In-flight calls get this long to finish on SIGINT/SIGTERM, then they are cancelled; it stays
    /// below System.CommandLine's two-second termination timeout so the exit is ours and clean.
    /// </summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(1.5);

    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var listen = new Option<string>("--listen-address")
        {
            Description = $"HOST:PORT (an IP address or localhost) or unix:///ABS/PATH (created owner-only) to listen on; default {ListenAddress.Default}.",
            DefaultValueFactory = _ => ListenAddress.Default,
            HelpName = "ADDR",
        };
        var allowNonLoopback = new Option<bool>("--allow-non-loopback")
        {
            Description = "Allow listening on a non-loopback address (the protocol has no authentication).",
        };
        var noBlobBatch = new Option<bool>("--no-blob-batch")
        {
            Description = "Serve only the three tvix services, like tvix-store: not our BlobBatchService extension (many blobs per call), which mounts use when offered.",
        };
        var command = new Command("daemon", "Serve the store over the tvix gRPC protocol (BlobService, DirectoryService, PathInfoService).")
        {
            listen,
            allowNonLoopback,
            noBlobBatch,
        };
        command.SetAction(Program.Guarded(context, async (parseResult, cancellationToken) =>
        {
            ListenAddress address;
            try
            {
                address = ListenAddress.Parse(parseResult.GetValue(listen) ?? ListenAddress.Default, parseResult.GetValue(allowNonLoopback));
            }
            catch (FormatException e)
            {
                context.Error.WriteLine("tvixlowfs: --listen-address " + e.Message);
                return Program.ExitUsage;
            }
            using ILoggerFactory loggers = context.CreateLoggerFactory(parseResult);
            await using StoreServices store = context.OpenStore(parseResult);
            var host = DaemonHost.Create(store, address, loggers, StopGrace, blobBatch: !parseResult.GetValue(noBlobBatch));
            await using (host.ConfigureAwait(false))
            {
                await host.StartAsync(CancellationToken.None).ConfigureAwait(false);
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // SIGINT/SIGTERM: the normal way to stop a daemon.
                }
                await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }
            return 0;
        }));
        return command;
    }
}
