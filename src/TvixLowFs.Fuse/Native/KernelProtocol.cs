using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// The few FUSE wire structs (linux/fuse.h) the device I/O looks into: the request header, INIT's
// arguments and reply (to negotiate passthrough, which libfuse 3.14 does not know), and OPEN's
// reply (to carry a backing id). Offsets are checked against the installed uapi header by the
// layout probe; the passthrough additions (kernel 6.9) postdate Debian 12's header, so their
// values are written here from the 6.9 uapi and placed in fields the old header calls padding.

/// <summary><c>struct fuse_in_header</c>: starts every request read from /dev/fuse.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseInHeader
{
    public uint Length;
    public uint Opcode;
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;
    public uint Padding;
}

/// <summary><c>struct fuse_out_header</c>: starts every reply written to /dev/fuse.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseOutHeader
{
    public uint Length;
    public int Error;
    public ulong Unique;
}

/// <summary>The head of <c>struct fuse_init_in</c> (what the kernel offers).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseInitIn
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    /// <summary>Flag bits 32–63, present when <see cref="Flags"/> has <see cref="FuseKernel.InitExt"/>.</summary>
    public uint Flags2;
}

/// <summary><c>struct fuse_init_out</c> (64 bytes).</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal struct FuseInitOut
{
    [FieldOffset(0)] public uint Major;
    [FieldOffset(4)] public uint Minor;
    [FieldOffset(8)] public uint MaxReadahead;
    [FieldOffset(12)] public uint Flags;
    [FieldOffset(32)] public uint Flags2;
    /// <summary>6.9: how deep a backing file's filesystem may be stacked (1–2); unused[0] in older headers.</summary>
    [FieldOffset(36)] public uint MaxStackDepth;
}

/// <summary><c>struct fuse_open_out</c> (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseOpenOut
{
    public ulong Fh;
    public uint OpenFlags;
    /// <summary>6.9: the backing file of a FOPEN_PASSTHROUGH open; padding in older headers.</summary>
    public int BackingId;
}

/// <summary>6.9 <c>struct fuse_backing_map</c>: the argument of FUSE_DEV_IOC_BACKING_OPEN.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseBackingMap
{
    public int Fd;
    public uint Flags;
    public ulong Padding;
}

/// <summary>Opcodes, flag bits and ioctl numbers of the FUSE protocol used here.</summary>
internal static class FuseKernel
{
    public const uint OpcodeInit = 26;

    /// <summary>FUSE_INIT_EXT: <see cref="FuseInitIn.Flags2"/> / <see cref="FuseInitOut.Flags2"/> are valid.</summary>
    public const uint InitExt = 1u << 30;

    /// <summary>FUSE_PASSTHROUGH (flag bit 37, i.e. bit 5 of flags2), kernel 6.9.</summary>
    public const uint Flags2Passthrough = 1u << (37 - 32);

    /// <summary>FOPEN_NOFLUSH.</summary>
    public const uint OpenNoFlush = 1u << 5;

    /// <summary>FOPEN_PASSTHROUGH (kernel 6.9): reads and mmap go to the backing file, not to us.</summary>
    public const uint OpenPassthrough = 1u << 7;

    /// <summary>
    /// A FUSE mount is stacked one level above its backing files; 1 lets backing files live on any
    /// ordinary filesystem and still lets an overlayfs be mounted on top of the mount.
    /// </summary>
    public const uint PassthroughStackDepth = 1;

    /// <summary>_IOW(229, 1, struct fuse_backing_map).</summary>
    public const uint IocBackingOpen = (1u << 30) | (16u << 16) | (229u << 8) | 1;

    /// <summary>_IOW(229, 2, uint32_t).</summary>
    public const uint IocBackingClose = (1u << 30) | (4u << 16) | (229u << 8) | 2;
}
