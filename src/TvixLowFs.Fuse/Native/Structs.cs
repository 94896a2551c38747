using System.Runtime.InteropServices;

namespace TvixLowFs.Fuse.Native;

// Blittable mirrors of the libfuse 3.14 / glibc x86-64 structs. Offsets are checked by
// tests against native/fuse_layout_probe (built from the installed headers).

/// <summary><c>struct timespec</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Timespec
{
    public long Seconds;
    public long Nanoseconds;
}

/// <summary>glibc x86-64 <c>struct stat</c> (144 bytes).</summary>
[StructLayout(LayoutKind.Explicit, Size = 144)]
public struct Stat
{
    [FieldOffset(0)] public ulong Dev;
    [FieldOffset(8)] public ulong Ino;
    [FieldOffset(16)] public ulong Nlink;
    [FieldOffset(24)] public uint Mode;
    [FieldOffset(28)] public uint Uid;
    [FieldOffset(32)] public uint Gid;
    [FieldOffset(40)] public ulong Rdev;
    [FieldOffset(48)] public long Size;
    [FieldOffset(56)] public long Blksize;
    [FieldOffset(64)] public long Blocks;
    [FieldOffset(72)] public Timespec Atime;
    [FieldOffset(88)] public Timespec Mtime;
    [FieldOffset(104)] public Timespec Ctime;
}

/// <summary>glibc x86-64 <c>struct statvfs</c> (112 bytes).</summary>
[StructLayout(LayoutKind.Explicit, Size = 112)]
public struct StatVfs
{
    [FieldOffset(0)] public ulong Bsize;
    [FieldOffset(8)] public ulong Frsize;
    [FieldOffset(16)] public ulong Blocks;
    [FieldOffset(24)] public ulong Bfree;
    [FieldOffset(32)] public ulong Bavail;
    [FieldOffset(40)] public ulong Files;
    [FieldOffset(48)] public ulong Ffree;
    [FieldOffset(56)] public ulong Favail;
    [FieldOffset(64)] public ulong Fsid;
    [FieldOffset(72)] public ulong Flag;
    [FieldOffset(80)] public ulong Namemax;
}

/// <summary><c>struct fuse_entry_param</c>: the answer to lookup (176 bytes).</summary>
[StructLayout(LayoutKind.Explicit, Size = 176)]
public struct FuseEntryParam
{
    [FieldOffset(0)] public ulong Ino;
    [FieldOffset(8)] public ulong Generation;
    [FieldOffset(16)] public Stat Attr;
    [FieldOffset(160)] public double AttrTimeout;
    [FieldOffset(168)] public double EntryTimeout;
}

/// <summary><c>struct fuse_file_info</c> (40 bytes); the C bitfields live in <see cref="Bits"/>.</summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
public struct FuseFileInfo
{
    [FieldOffset(0)] public int Flags;
    /// <summary>writepage:1, direct_io:1, keep_cache:1, flush:1, nonseekable:1, flock_release:1, cache_readdir:1, noflush:1.</summary>
    [FieldOffset(4)] public uint Bits;
    [FieldOffset(16)] public ulong Fh;
    [FieldOffset(24)] public ulong LockOwner;
    [FieldOffset(32)] public uint PollEvents;

    public const uint WritepageBit = 1u << 0;
    public const uint DirectIoBit = 1u << 1;
    public const uint KeepCacheBit = 1u << 2;
    public const uint FlushBit = 1u << 3;
    public const uint NonseekableBit = 1u << 4;
    public const uint FlockReleaseBit = 1u << 5;
    public const uint CacheReaddirBit = 1u << 6;
    public const uint NoflushBit = 1u << 7;

    public bool DirectIo { readonly get => (Bits & DirectIoBit) != 0; set => SetBit(DirectIoBit, value); }
    public bool KeepCache { readonly get => (Bits & KeepCacheBit) != 0; set => SetBit(KeepCacheBit, value); }
    public bool Nonseekable { readonly get => (Bits & NonseekableBit) != 0; set => SetBit(NonseekableBit, value); }
    public bool CacheReaddir { readonly get => (Bits & CacheReaddirBit) != 0; set => SetBit(CacheReaddirBit, value); }
    public bool Noflush { readonly get => (Bits & NoflushBit) != 0; set => SetBit(NoflushBit, value); }

    private void SetBit(uint bit, bool value) => Bits = value ? Bits | bit : Bits & ~bit;
}

/// <summary><c>struct fuse_conn_info</c> (128 bytes), negotiated in init.</summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
public struct FuseConnInfo
{
    [FieldOffset(0)] public uint ProtoMajor;
    [FieldOffset(4)] public uint ProtoMinor;
    [FieldOffset(8)] public uint MaxWrite;
    [FieldOffset(12)] public uint MaxRead;
    [FieldOffset(16)] public uint MaxReadahead;
    [FieldOffset(20)] public uint Capable;
    [FieldOffset(24)] public uint Want;
    [FieldOffset(28)] public uint MaxBackground;
    [FieldOffset(32)] public uint CongestionThreshold;
    [FieldOffset(36)] public uint TimeGran;

    /// <summary><see cref="Capable"/> as flags: what the kernel and libfuse support.</summary>
    public readonly FuseCapability CapableFlags => (FuseCapability)Capable;

    /// <summary><see cref="Want"/> as flags: what the filesystem asks for (a subset of <see cref="CapableFlags"/>).</summary>
    public FuseCapability WantFlags { readonly get => (FuseCapability)Want; set => Want = (uint)value; }
}

/// <summary><c>struct fuse_buf</c> (40 bytes).</summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
public unsafe struct FuseBuf
{
    [FieldOffset(0)] public nuint Size;
    [FieldOffset(8)] public FuseBufFlags Flags;
    [FieldOffset(16)] public void* Mem;
    [FieldOffset(24)] public int Fd;
    [FieldOffset(32)] public long Pos;
}

/// <summary><c>struct fuse_bufvec</c> with its single inline buffer (64 bytes).</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct FuseBufVec
{
    [FieldOffset(0)] public nuint Count;
    [FieldOffset(8)] public nuint Idx;
    [FieldOffset(16)] public nuint Off;
    [FieldOffset(24)] public FuseBuf Buf;
}

[Flags]
public enum FuseBufFlags : int
{
    None = 0,
    IsFd = 1 << 1,
    FdSeek = 1 << 2,
    FdRetry = 1 << 3,
}

[Flags]
public enum FuseBufCopyFlags : int
{
    None = 0,
    NoSplice = 1 << 1,
    ForceSplice = 1 << 2,
    SpliceMove = 1 << 3,
    SpliceNonblock = 1 << 4,
}

/// <summary><c>struct fuse_ctx</c>: who sent a request (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseCtx
{
    public uint Uid;
    public uint Gid;
    public int Pid;
    public uint Umask;
}

/// <summary><c>struct fuse_forget_data</c> (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseForgetData
{
    public ulong Ino;
    public ulong Nlookup;
}

/// <summary><c>struct fuse_args</c> (fuse_opt.h, 16 bytes): argc/argv handed to fuse_session_new.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseArgs
{
    public int Argc;
    public byte** Argv;
    /// <summary>Nonzero when libfuse reallocated argv (then fuse_opt_free_args frees it).</summary>
    public int Allocated;
}

/// <summary><c>struct iovec</c> (16 bytes), for fuse_reply_iov.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoVec
{
    public void* Base;
    public nuint Length;
}

/// <summary><c>struct fuse_custom_io</c> (3.14): the device reads, writes and splices libfuse makes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseCustomIo
{
    public delegate* unmanaged<int, IoVec*, int, nint, nint> Writev;
    public delegate* unmanaged<int, void*, nuint, nint, nint> Read;
    public delegate* unmanaged<int, long*, int, long*, nuint, uint, nint, nint> SpliceReceive;
    public delegate* unmanaged<int, long*, int, long*, nuint, uint, nint, nint> SpliceSend;
}

/// <summary>The <c>FUSE_CAP_*</c> bits of <see cref="FuseConnInfo.Capable"/> / <see cref="FuseConnInfo.Want"/> (3.14).</summary>
[Flags]
public enum FuseCapability : uint
{
    None = 0,
    AsyncRead = 1u << 0,
    PosixLocks = 1u << 1,
    AtomicOTrunc = 1u << 3,
    ExportSupport = 1u << 4,
    DontMask = 1u << 6,
    SpliceWrite = 1u << 7,
    SpliceMove = 1u << 8,
    SpliceRead = 1u << 9,
    FlockLocks = 1u << 10,
    IoctlDir = 1u << 11,
    AutoInvalData = 1u << 12,
    ReaddirPlus = 1u << 13,
    ReaddirPlusAuto = 1u << 14,
    AsyncDio = 1u << 15,
    WritebackCache = 1u << 16,
    NoOpenSupport = 1u << 17,
    ParallelDirops = 1u << 18,
    PosixAcl = 1u << 19,
    HandleKillpriv = 1u << 20,
    CacheSymlinks = 1u << 23,
    NoOpendirSupport = 1u << 24,
    ExplicitInvalData = 1u << 25,
    ExpireOnly = 1u << 26,
}
