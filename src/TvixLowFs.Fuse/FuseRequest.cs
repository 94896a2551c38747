namespace TvixLowFs.Fuse;

/// <summary>
/// A kernel request (<c>fuse_req_t</c>). It must get exactly one reply, from any thread;
/// after the reply the handle is dead.
/// </summary>
public readonly struct FuseRequest(nint handle)
{
    public nint Handle { get; } = handle;
}
