using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// The session loops (fuse_lowlevel.h). With FUSE_USE_VERSION >= 312 and a libfuse built with
// versioned symbols (libfuse_config.h says so on 3.14), the header's fuse_session_loop_mt is the
// default version fuse_session_loop_mt@@FUSE_3.12, the same code as fuse_session_loop_mt_312,
// which takes the opaque 3.12 struct fuse_loop_config made by fuse_loop_cfg_create. We bind the
// explicit _312 name so an older default (…@FUSE_3.0 took int clone_fd; …_32 took the public
// v1 struct) can never be picked by accident.
internal static unsafe partial class LibFuse
{
    /// <summary><c>int fuse_session_loop_mt_312(struct fuse_session *se, struct fuse_loop_config *config)</c>: blocks; 0, -errno or the signal number.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_session_loop_mt_312")]
    internal static partial int SessionLoopMultiThreaded(nint session, nint loopConfig);

    /// <summary><c>int fuse_session_loop(struct fuse_session *se)</c>: the single-threaded loop.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_session_loop")]
    internal static partial int SessionLoop(nint session);
}
