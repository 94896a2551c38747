using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// fuse_loop_cfg_* (FUSE_3.12): the opaque loop configuration for fuse_session_loop_mt_312.
internal static unsafe partial class LibFuse
{
    /// <summary><c>struct fuse_loop_config *fuse_loop_cfg_create(void)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_create")]
    internal static partial nint LoopConfigCreate();

    /// <summary><c>void fuse_loop_cfg_destroy(struct fuse_loop_config *config)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_destroy")]
    internal static partial void LoopConfigDestroy(nint loopConfig);

    /// <summary><c>void fuse_loop_cfg_set_max_threads(struct fuse_loop_config *config, unsigned int value)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_set_max_threads")]
    internal static partial void LoopConfigSetMaxThreads(nint loopConfig, uint value);

    /// <summary><c>void fuse_loop_cfg_set_idle_threads(struct fuse_loop_config *config, unsigned int value)</c>; UINT_MAX (-1) keeps every thread.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_set_idle_threads")]
    internal static partial void LoopConfigSetIdleThreads(nint loopConfig, uint value);

    /// <summary><c>void fuse_loop_cfg_set_clone_fd(struct fuse_loop_config *config, unsigned int value)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_set_clone_fd")]
    internal static partial void LoopConfigSetCloneFd(nint loopConfig, uint value);
}
