using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Fuse;

/// <summary>
/// The one place where <see cref="FuseLowLevelOps"/> is filled. Every operation of
/// <see cref="IFuseOperations"/> but destroy is registered; flush, getlk/setlk, bmap, ioctl, poll,
/// retrieve_reply, flock and lseek stay null, so libfuse answers ENOSYS and the kernel falls back
/// (flush: ENOSYS makes the kernel stop sending it; close() still succeeds).
/// </summary>
internal static unsafe class FuseOperationTable
{
    internal static FuseLowLevelOps Create() => new()
    {
        Init = &FuseEntryPoints.Init,
        // Destroy stays null: FuseSession.Dispose calls IFuseOperations.Destroy itself, before it
        // unmounts; libfuse would call it from fuse_session_destroy, after the channel is closed.
        Lookup = &FuseEntryPoints.Lookup,
        Forget = &FuseEntryPoints.Forget,
        GetAttr = &FuseEntryPoints.GetAttr,
        SetAttr = &FuseEntryPoints.SetAttr,
        ReadLink = &FuseEntryPoints.ReadLink,
        MkNod = &FuseEntryPoints.MkNod,
        MkDir = &FuseEntryPoints.MkDir,
        Unlink = &FuseEntryPoints.Unlink,
        RmDir = &FuseEntryPoints.RmDir,
        Symlink = &FuseEntryPoints.Symlink,
        Rename = &FuseEntryPoints.Rename,
        Link = &FuseEntryPoints.Link,
        Open = &FuseEntryPoints.Open,
        Read = &FuseEntryPoints.Read,
        Write = &FuseEntryPoints.Write,
        Release = &FuseEntryPoints.Release,
        Fsync = &FuseEntryPoints.Fsync,
        OpenDir = &FuseEntryPoints.OpenDir,
        ReadDir = &FuseEntryPoints.ReadDir,
        ReleaseDir = &FuseEntryPoints.ReleaseDir,
        FsyncDir = &FuseEntryPoints.FsyncDir,
        StatFs = &FuseEntryPoints.StatFs,
        SetXattr = &FuseEntryPoints.SetXattr,
        GetXattr = &FuseEntryPoints.GetXattr,
        ListXattr = &FuseEntryPoints.ListXattr,
        RemoveXattr = &FuseEntryPoints.RemoveXattr,
        Access = &FuseEntryPoints.Access,
        Create = &FuseEntryPoints.Create,
        WriteBuf = &FuseEntryPoints.WriteBuf,
        ForgetMulti = &FuseEntryPoints.ForgetMulti,
        Fallocate = &FuseEntryPoints.Fallocate,
        ReadDirPlus = &FuseEntryPoints.ReadDirPlus,
        CopyFileRange = &FuseEntryPoints.CopyFileRange,
    };
}
