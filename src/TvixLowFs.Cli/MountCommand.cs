using System.CommandLine;
using Microsoft.Extensions.Logging;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Cli;

/// <summary>
/// <c>tvixlowfs mount DEST</c>: serves the store read-only at DEST (type <c>fuse.tvixlowfs</c>) in
/// the foreground until SIGINT or SIGTERM, then unmounts and exits 0. Prints
/// <c>tvixlowfs: mounted DEST</c> on stderr once the mount is up.
/// </summary>
public static class MountCommand
{
    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var destination = new Argument<string>("DEST") { Description = "An existing directory to mount the store on." };
        var listRoot = new Option<bool>("--list-root") { Description = "Allow listing the mount's root (every store path, streamed)." };
        var threads = new Option<int>("--threads")
        {
            Description = "Requests served concurrently (FUSE worker threads; default: the number of processors).",
            DefaultValueFactory = _ => Environment.ProcessorCount,
            HelpName = "N",
        };
        var showXattr = new Option<bool>("--show-xattr") { Description = "Expose user.tvix.castore.{blob,directory}.digest extended attributes." };
        var allowOther = new Option<bool>("--allow-other") { Description = "Let other users use the mount (allow_other,default_permissions)." };
        var noPassthrough = new Option<bool>("--no-passthrough")
        {
            Description = "Serve every read through tvixlowfs instead of letting the kernel read local blob files directly (FUSE passthrough, Linux 6.9+, root; used when available).",
        };
        var treeReadahead = new Option<int>("--tree-readahead")
        {
            Description = "When a file in a directory is first opened, open and read ahead the files a depth-first reader reads next (the rest of that directory and its subdirectories, then what follows it in the parents), N at once, in the background (0: off).",
            DefaultValueFactory = _ => new StoreFilesystemOptions().ReadaheadConcurrency,
            HelpName = "N",
        };
        var command = new Command("mount", "Mount the store read-only at DEST until SIGINT/SIGTERM.")
        {
            destination, listRoot, threads, showXattr, allowOther, noPassthrough, treeReadahead,
        };
        command.SetAction(Program.Guarded(context, async (parseResult, cancellationToken) =>
        {
            string dest = parseResult.GetValue(destination)!;
            int threadCount = parseResult.GetValue(threads);
            if (threadCount < 1)
                throw new IOException($"--threads must be at least 1, got {threadCount}");

            string mountPoint = MountPoint.Prepare(dest, line => context.Error.WriteLine("tvixlowfs: " + line));
            await using StoreServices store = context.OpenStoreForMount(parseResult);
            await CliContext.ProbeAsync(store.PathInfos, cancellationToken);
            using ILoggerFactory loggers = context.CreateLoggerFactory(parseResult);
            ILogger logger = loggers.CreateLogger("mount");
            FuseDiagnostics.Error = line => logger.LogError("{Line}", line);

            FuseBackingFiles? backingFiles = parseResult.GetValue(noPassthrough) ? null : new FuseBackingFiles();
            // The session's own reply sink: the session closes it at unmount, after destroy.
            var replies = new KernelReplySink();
            var filesystem = new StoreFilesystem(store, replies, new StoreFilesystemOptions
            {
                ListRoot = parseResult.GetValue(listRoot),
                ShowXattr = parseResult.GetValue(showXattr),
                BackingFiles = backingFiles,
                // A miss on this machine is answered on the FUSE thread itself: no network to wait for.
                AnswerMissesInline = store.OnThisMachine,
                ReadaheadConcurrency = Math.Max(parseResult.GetValue(treeReadahead), 0),
                // A lookup in a binary cache waits for its NAR; the HTTP stall timeout bounds a dead server.
                PathInfoTimeout = store.PathInfos is ISubstitutingPathInfoService ? StoreFilesystemOptions.SubstitutionTimeout : null,
            }, loggers.CreateLogger("filesystem"));
            bool others = parseResult.GetValue(allowOther);
            int result;
            using (FuseSession session = FuseSession.Mount(filesystem, new FuseMountOptions
            {
                MountPoint = mountPoint,
                FsName = "tvixlowfs",
                Subtype = "tvixlowfs",
                ReadOnly = true,
                NoSuidNoDev = true,
                AllowOther = others,
                DefaultPermissions = others,
                MaxThreads = threadCount,
                HandleSignals = true,
                BackingFiles = backingFiles,
                Replies = replies,
            }))
            {
                // Sequential reads as 512 KiB requests instead of the default 128 KiB readahead (root only).
                MountPoint.RaiseReadahead(mountPoint, StoreFilesystem.ReadaheadBytes);
                // The command line's own termination handling cancels this token; either way the loop ends.
                using CancellationTokenRegistration stop = cancellationToken.Register(session.Exit);
                context.Error.WriteLine($"tvixlowfs: mounted {dest}");
                context.Error.Flush();
                result = session.Run();
            }
            context.Error.WriteLine($"tvixlowfs: unmounted {dest}");
            if (result != 0)
                throw new IOException($"the FUSE session at {dest} failed: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(-result)}");
            return 0;
        }));
        return command;
    }
}
