using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// fuse_set_signal_handlers / fuse_remove_signal_handlers (fuse_common.h, FUSE_3.0).
// libfuse installs its handlers only where the disposition is still SIG_DFL; the .NET runtime
// already owns SIGINT/SIGTERM, so FuseSession uses PosixSignalRegistration instead and these
// stay available for hosts that want libfuse's own SIGHUP/SIGPIPE handling.
internal static unsafe partial class LibFuse
{
    /// <summary><c>int fuse_set_signal_handlers(struct fuse_session *se)</c>: 0 or -1.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_set_signal_handlers")]
    internal static partial int SetSignalHandlers(nint session);

    /// <summary><c>void fuse_remove_signal_handlers(struct fuse_session *se)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_remove_signal_handlers")]
    internal static partial void RemoveSignalHandlers(nint session);
}
