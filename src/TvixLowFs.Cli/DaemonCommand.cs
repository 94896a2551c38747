using System.CommandLine;
using Microsoft.Extensions.Logging;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Cli;

/// <summary>
/// <c>tvixlowfs daemon [--listen-address HOST:PORT | unix:///ABS/PATH]</c>: serves the store the
/// common options name (memory, local, or another daemon as upstream) over the tvix gRPC
/// protocol until SIGINT/SIGTERM, then stops gracefully and exits 0. Who may write
/// (<c>--read-only</c>, TLS with <c>--client-ca-file</c>) and every limit are options; see the README.
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
        var listen = new ListenOptions(ListenAddress.Default, " (created owner-only)", "anyone who connects may read; limit writes with --read-only or --client-ca-file");
        var noBlobBatch = new Option<bool>("--no-blob-batch")
        {
            Description = "Serve only the three tvix services, like tvix-store: not our BlobBatchService extension (many blobs per call), which mounts use when offered.",
        };
        var readOnly = new Option<bool>("--read-only")
        {
            Description = "Refuse every Put (PERMISSION_DENIED): a daemon that only serves, e.g. to CI runners.",
        };
        var tlsCert = new Option<string?>("--tls-cert-file")
        {
            Description = "Serve TLS (clients use grpc+https://HOST:PORT) with this PEM certificate (chain); needs --tls-key-file.",
            HelpName = "PEM",
        };
        var tlsKey = new Option<string?>("--tls-key-file") { Description = "The PEM private key of --tls-cert-file.", HelpName = "PEM" };
        var clientCa = new Option<string?>("--client-ca-file")
        {
            Description = "With TLS: only clients presenting a certificate from these PEM CAs may Put; others may only read.",
            HelpName = "PEM",
        };
        DaemonLimits defaults = DaemonLimits.Default;
        var maxBlobBytes = Limit("--max-blob-bytes", defaults.MaxBlobBytes, "Bytes one blob Put may carry.");
        var maxMessageBytes = Limit("--max-message-bytes", defaults.MaxMessageBytes, "Bytes of one gRPC message received (a blob chunk, a Directory, a PathInfo); at least 65536.");
        var idleTimeout = Limit("--stream-idle-timeout", defaults.StreamIdleTimeout.TotalSeconds, "Seconds a Put stream may go without a message.");
        var minDataRate = Limit("--min-data-rate", defaults.MinDataRate, $"Bytes per second a connection must move, averaged, after {DaemonLimits.DataRateGrace.TotalSeconds:0} s (0: no check).", allowZero: true);
        var maxPuts = Limit("--max-concurrent-puts", defaults.MaxConcurrentPuts, "Blob and Directory Put streams open at once, daemon-wide.");
        var maxStreams = Limit("--max-streams-per-connection", defaults.MaxStreamsPerConnection, "Calls open at once on one HTTP/2 connection.");
        var maxConnections = Limit("--max-connections", defaults.MaxConnections, "Connections open at once.");
        var maxEntries = Limit("--max-directory-entries", defaults.MaxDirectoryEntries, "Entries of one Directory message.");
        var maxGraph = Limit("--max-directory-graph-entries", defaults.MaxDirectoryGraphEntries, "Entries (plus one per message) of one Directory Put stream.");
        var maxReferences = Limit("--max-references", defaults.MaxReferences, "References (and reference names) of one PathInfo.", allowZero: true);
        var maxSignatures = Limit("--max-signatures", defaults.MaxSignatures, "Signatures of one PathInfo.", allowZero: true);
        var maxNarEntries = Limit("--max-nar-entries", defaults.MaxNarEntries, "Entries one CalculateNAR may walk (shared directories count each time).");
        var command = new Command("daemon", "Serve the store over the tvix gRPC protocol (BlobService, DirectoryService, PathInfoService).")
        {
            listen.Address,
            listen.AllowNonLoopback,
            noBlobBatch,
            readOnly,
            tlsCert,
            tlsKey,
            clientCa,
            maxBlobBytes,
            maxMessageBytes,
            idleTimeout,
            minDataRate,
            maxPuts,
            maxStreams,
            maxConnections,
            maxEntries,
            maxGraph,
            maxReferences,
            maxSignatures,
            maxNarEntries,
        };
        command.SetAction(Program.Guarded(context, async (parseResult, cancellationToken) =>
        {
            if (listen.Parse(parseResult, context) is not { } address)
                return Program.ExitUsage;
            string? certFile = parseResult.GetValue(tlsCert), keyFile = parseResult.GetValue(tlsKey), caFile = parseResult.GetValue(clientCa);
            string? tlsProblem = (certFile, keyFile, caFile) switch
            {
                (null, not null, _) or (not null, null, _) => "--tls-cert-file and --tls-key-file go together",
                (null, null, not null) => "--client-ca-file needs TLS (--tls-cert-file and --tls-key-file)",
                (not null, _, _) when address.UnixPath is not null => "TLS needs a HOST:PORT listen address; a unix socket is guarded by its file mode",
                _ => null,
            };
            if (tlsProblem is not null)
            {
                context.Error.WriteLine("tvixlowfs: " + tlsProblem);
                return Program.ExitUsage;
            }
            var options = new DaemonOptions
            {
                ReadOnly = parseResult.GetValue(readOnly),
                Tls = certFile is not null ? new DaemonTls(Path.GetFullPath(certFile), Path.GetFullPath(keyFile!), caFile is null ? null : Path.GetFullPath(caFile)) : null,
                Limits = new DaemonLimits
                {
                    MaxBlobBytes = (long)parseResult.GetValue(maxBlobBytes),
                    MaxMessageBytes = (int)Math.Min(parseResult.GetValue(maxMessageBytes), int.MaxValue),
                    StreamIdleTimeout = TimeSpan.FromSeconds(parseResult.GetValue(idleTimeout)),
                    MinDataRate = parseResult.GetValue(minDataRate),
                    MaxConcurrentPuts = (int)Math.Min(parseResult.GetValue(maxPuts), int.MaxValue),
                    MaxStreamsPerConnection = (int)Math.Min(parseResult.GetValue(maxStreams), int.MaxValue),
                    MaxConnections = (long)parseResult.GetValue(maxConnections),
                    MaxDirectoryEntries = (int)Math.Min(parseResult.GetValue(maxEntries), int.MaxValue),
                    MaxDirectoryGraphEntries = (long)parseResult.GetValue(maxGraph),
                    MaxReferences = (int)Math.Min(parseResult.GetValue(maxReferences), int.MaxValue),
                    MaxSignatures = (int)Math.Min(parseResult.GetValue(maxSignatures), int.MaxValue),
                    MaxNarEntries = (long)parseResult.GetValue(maxNarEntries),
                },
            };
            try
            {
                options.Limits.Check();
            }
            catch (ArgumentOutOfRangeException e)
            {
                context.Error.WriteLine("tvixlowfs: --" + e.Message.Split(" (Parameter", 2)[0]);
                return Program.ExitUsage;
            }
            using ILoggerFactory loggers = context.CreateLoggerFactory(parseResult);
            await using StoreServices store = context.OpenStoreForDaemon(parseResult);
            var host = DaemonHost.Create(store, address, loggers, StopGrace, blobBatch: !parseResult.GetValue(noBlobBatch), options);
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

    /// <summary>A limit option: a number (whole or not) with its default, positive unless 0 is allowed.</summary>
    private static Option<double> Limit(string name, double defaultValue, string description, bool allowZero = false)
    {
        var option = new Option<double>(name)
        {
            Description = $"{description} Default {defaultValue.ToString(System.Globalization.CultureInfo.InvariantCulture)}.",
            DefaultValueFactory = _ => defaultValue,
            HelpName = "N",
        };
        option.Validators.Add(result =>
        {
            double value = result.GetValueOrDefault<double>();
            if (!double.IsFinite(value) || value < 0 || (value == 0 && !allowZero) || value > 9.2e18)
                result.AddError($"{name} must be a number {(allowZero ? "of 0 or more" : "greater than 0")}");
        });
        return option;
    }
}
