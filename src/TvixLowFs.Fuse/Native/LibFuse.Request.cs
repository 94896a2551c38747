using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// fuse_req_* helpers (FUSE_3.0). Valid only until the request is answered.
internal static unsafe partial class LibFuse
{
    /// <summary><c>const struct fuse_ctx *fuse_req_ctx(fuse_req_t req)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_req_ctx")]
    internal static partial FuseCtx* RequestContext(nint request);

    /// <summary><c>int fuse_req_interrupted(fuse_req_t req)</c>: 1 once the kernel sent INTERRUPT for it.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_req_interrupted")]
    internal static partial int RequestInterrupted(nint request);

    /// <summary><c>void *fuse_req_userdata(fuse_req_t req)</c>: the userdata given to fuse_session_new.</summary>
    [LibraryImport(Library, EntryPoint = "fuse_req_userdata")]
    internal static partial nint RequestUserData(nint request);
}
