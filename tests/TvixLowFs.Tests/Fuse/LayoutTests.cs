using NUnit.Framework;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Tests.Fuse;

/// <summary>
/// Compares every managed mirror of a libfuse / glibc struct with what the installed headers say,
/// as printed by native/fuse_layout_probe (built here with make when missing).
/// </summary>
[TestFixture]
public sealed unsafe class LayoutTests
{
    private static NativeLayout layout = null!;

    [OneTimeSetUp]
    public void BuildAndRunProbe() => layout = NativeLayout.Load();

    private static (int Offset, int Size) F<T>(string field, int size) where T : struct =>
        ((int)Marshal.OffsetOf<T>(field), size);

    // C name -> managed (offset, size). Nested structs (timespec, stat, fuse_buf) count as one field.
    private static readonly Dictionary<string, (int Offset, int Size)> Fields = new()
    {
        ["timespec.tv_sec"] = F<Timespec>(nameof(Timespec.Seconds), 8),
        ["timespec.tv_nsec"] = F<Timespec>(nameof(Timespec.Nanoseconds), 8),

        ["stat.st_dev"] = F<Stat>(nameof(Stat.Dev), 8),
        ["stat.st_ino"] = F<Stat>(nameof(Stat.Ino), 8),
        ["stat.st_nlink"] = F<Stat>(nameof(Stat.Nlink), 8),
        ["stat.st_mode"] = F<Stat>(nameof(Stat.Mode), 4),
        ["stat.st_uid"] = F<Stat>(nameof(Stat.Uid), 4),
        ["stat.st_gid"] = F<Stat>(nameof(Stat.Gid), 4),
        ["stat.st_rdev"] = F<Stat>(nameof(Stat.Rdev), 8),
        ["stat.st_size"] = F<Stat>(nameof(Stat.Size), 8),
        ["stat.st_blksize"] = F<Stat>(nameof(Stat.Blksize), 8),
        ["stat.st_blocks"] = F<Stat>(nameof(Stat.Blocks), 8),
        ["stat.st_atim"] = F<Stat>(nameof(Stat.Atime), 16),
        ["stat.st_mtim"] = F<Stat>(nameof(Stat.Mtime), 16),
        ["stat.st_ctim"] = F<Stat>(nameof(Stat.Ctime), 16),

        ["statvfs.f_bsize"] = F<StatVfs>(nameof(StatVfs.Bsize), 8),
        ["statvfs.f_frsize"] = F<StatVfs>(nameof(StatVfs.Frsize), 8),
        ["statvfs.f_blocks"] = F<StatVfs>(nameof(StatVfs.Blocks), 8),
        ["statvfs.f_bfree"] = F<StatVfs>(nameof(StatVfs.Bfree), 8),
        ["statvfs.f_bavail"] = F<StatVfs>(nameof(StatVfs.Bavail), 8),
        ["statvfs.f_files"] = F<StatVfs>(nameof(StatVfs.Files), 8),
        ["statvfs.f_ffree"] = F<StatVfs>(nameof(StatVfs.Ffree), 8),
        ["statvfs.f_favail"] = F<StatVfs>(nameof(StatVfs.Favail), 8),
        ["statvfs.f_fsid"] = F<StatVfs>(nameof(StatVfs.Fsid), 8),
        ["statvfs.f_flag"] = F<StatVfs>(nameof(StatVfs.Flag), 8),
        ["statvfs.f_namemax"] = F<StatVfs>(nameof(StatVfs.Namemax), 8),

        ["fuse_entry_param.ino"] = F<FuseEntryParam>(nameof(FuseEntryParam.Ino), 8),
        ["fuse_entry_param.generation"] = F<FuseEntryParam>(nameof(FuseEntryParam.Generation), 8),
        ["fuse_entry_param.attr"] = F<FuseEntryParam>(nameof(FuseEntryParam.Attr), Unsafe.SizeOf<Stat>()),
        ["fuse_entry_param.attr_timeout"] = F<FuseEntryParam>(nameof(FuseEntryParam.AttrTimeout), 8),
        ["fuse_entry_param.entry_timeout"] = F<FuseEntryParam>(nameof(FuseEntryParam.EntryTimeout), 8),

        ["fuse_file_info.flags"] = F<FuseFileInfo>(nameof(FuseFileInfo.Flags), 4),
        ["fuse_file_info.fh"] = F<FuseFileInfo>(nameof(FuseFileInfo.Fh), 8),
        ["fuse_file_info.lock_owner"] = F<FuseFileInfo>(nameof(FuseFileInfo.LockOwner), 8),
        ["fuse_file_info.poll_events"] = F<FuseFileInfo>(nameof(FuseFileInfo.PollEvents), 4),

        ["fuse_conn_info.proto_major"] = F<FuseConnInfo>(nameof(FuseConnInfo.ProtoMajor), 4),
        ["fuse_conn_info.proto_minor"] = F<FuseConnInfo>(nameof(FuseConnInfo.ProtoMinor), 4),
        ["fuse_conn_info.max_write"] = F<FuseConnInfo>(nameof(FuseConnInfo.MaxWrite), 4),
        ["fuse_conn_info.max_read"] = F<FuseConnInfo>(nameof(FuseConnInfo.MaxRead), 4),
        ["fuse_conn_info.max_readahead"] = F<FuseConnInfo>(nameof(FuseConnInfo.MaxReadahead), 4),
        ["fuse_conn_info.capable"] = F<FuseConnInfo>(nameof(FuseConnInfo.Capable), 4),
        ["fuse_conn_info.want"] = F<FuseConnInfo>(nameof(FuseConnInfo.Want), 4),
        ["fuse_conn_info.max_background"] = F<FuseConnInfo>(nameof(FuseConnInfo.MaxBackground), 4),
        ["fuse_conn_info.congestion_threshold"] = F<FuseConnInfo>(nameof(FuseConnInfo.CongestionThreshold), 4),
        ["fuse_conn_info.time_gran"] = F<FuseConnInfo>(nameof(FuseConnInfo.TimeGran), 4),
        // reserved[22]: no managed field; the explicit Size covers it.
        ["fuse_conn_info.reserved"] = (40, 128 - 40),

        ["fuse_buf.size"] = F<FuseBuf>(nameof(FuseBuf.Size), 8),
        ["fuse_buf.flags"] = F<FuseBuf>(nameof(FuseBuf.Flags), sizeof(FuseBufFlags)),
        ["fuse_buf.mem"] = F<FuseBuf>(nameof(FuseBuf.Mem), 8),
        ["fuse_buf.fd"] = F<FuseBuf>(nameof(FuseBuf.Fd), 4),
        ["fuse_buf.pos"] = F<FuseBuf>(nameof(FuseBuf.Pos), 8),

        ["fuse_bufvec.count"] = F<FuseBufVec>(nameof(FuseBufVec.Count), 8),
        ["fuse_bufvec.idx"] = F<FuseBufVec>(nameof(FuseBufVec.Idx), 8),
        ["fuse_bufvec.off"] = F<FuseBufVec>(nameof(FuseBufVec.Off), 8),
        ["fuse_bufvec.buf"] = F<FuseBufVec>(nameof(FuseBufVec.Buf), Unsafe.SizeOf<FuseBuf>()),

        ["fuse_ctx.uid"] = F<FuseCtx>(nameof(FuseCtx.Uid), 4),
        ["fuse_ctx.gid"] = F<FuseCtx>(nameof(FuseCtx.Gid), 4),
        ["fuse_ctx.pid"] = F<FuseCtx>(nameof(FuseCtx.Pid), 4),
        ["fuse_ctx.umask"] = F<FuseCtx>(nameof(FuseCtx.Umask), 4),

        ["fuse_forget_data.ino"] = F<FuseForgetData>(nameof(FuseForgetData.Ino), 8),
        ["fuse_forget_data.nlookup"] = F<FuseForgetData>(nameof(FuseForgetData.Nlookup), 8),

        ["fuse_args.argc"] = F<FuseArgs>(nameof(FuseArgs.Argc), 4),
        ["fuse_args.argv"] = F<FuseArgs>(nameof(FuseArgs.Argv), 8),
        ["fuse_args.allocated"] = F<FuseArgs>(nameof(FuseArgs.Allocated), 4),

        ["iovec.iov_base"] = F<IoVec>(nameof(IoVec.Base), 8),
        ["iovec.iov_len"] = F<IoVec>(nameof(IoVec.Length), 8),

        ["fuse_custom_io.writev"] = F<FuseCustomIo>(nameof(FuseCustomIo.Writev), 8),
        ["fuse_custom_io.read"] = F<FuseCustomIo>(nameof(FuseCustomIo.Read), 8),
        ["fuse_custom_io.splice_receive"] = F<FuseCustomIo>(nameof(FuseCustomIo.SpliceReceive), 8),
        ["fuse_custom_io.splice_send"] = F<FuseCustomIo>(nameof(FuseCustomIo.SpliceSend), 8),

        ["fuse_in_header.len"] = F<FuseInHeader>(nameof(FuseInHeader.Length), 4),
        ["fuse_in_header.opcode"] = F<FuseInHeader>(nameof(FuseInHeader.Opcode), 4),
        ["fuse_in_header.unique"] = F<FuseInHeader>(nameof(FuseInHeader.Unique), 8),
        ["fuse_out_header.len"] = F<FuseOutHeader>(nameof(FuseOutHeader.Length), 4),
        ["fuse_out_header.error"] = F<FuseOutHeader>(nameof(FuseOutHeader.Error), 4),
        ["fuse_out_header.unique"] = F<FuseOutHeader>(nameof(FuseOutHeader.Unique), 8),
        ["fuse_init_in.flags"] = F<FuseInitIn>(nameof(FuseInitIn.Flags), 4),
        ["fuse_init_in.flags2"] = F<FuseInitIn>(nameof(FuseInitIn.Flags2), 4),
        ["fuse_init_out.flags"] = F<FuseInitOut>(nameof(FuseInitOut.Flags), 4),
        ["fuse_init_out.flags2"] = F<FuseInitOut>(nameof(FuseInitOut.Flags2), 4),
        ["fuse_init_out.unused[0]"] = F<FuseInitOut>(nameof(FuseInitOut.MaxStackDepth), 4),
        ["fuse_open_out.fh"] = F<FuseOpenOut>(nameof(FuseOpenOut.Fh), 8),
        ["fuse_open_out.open_flags"] = F<FuseOpenOut>(nameof(FuseOpenOut.OpenFlags), 4),
        ["fuse_open_out.padding"] = F<FuseOpenOut>(nameof(FuseOpenOut.BackingId), 4),
    };

    private static readonly Dictionary<string, int> Sizes = new()
    {
        ["timespec"] = Unsafe.SizeOf<Timespec>(),
        ["stat"] = Unsafe.SizeOf<Stat>(),
        ["statvfs"] = Unsafe.SizeOf<StatVfs>(),
        ["fuse_entry_param"] = Unsafe.SizeOf<FuseEntryParam>(),
        ["fuse_file_info"] = Unsafe.SizeOf<FuseFileInfo>(),
        ["fuse_conn_info"] = Unsafe.SizeOf<FuseConnInfo>(),
        ["fuse_buf"] = Unsafe.SizeOf<FuseBuf>(),
        ["fuse_bufvec"] = Unsafe.SizeOf<FuseBufVec>(),
        ["fuse_ctx"] = Unsafe.SizeOf<FuseCtx>(),
        ["fuse_forget_data"] = Unsafe.SizeOf<FuseForgetData>(),
        ["fuse_args"] = Unsafe.SizeOf<FuseArgs>(),
        ["iovec"] = Unsafe.SizeOf<IoVec>(),
        ["fuse_custom_io"] = Unsafe.SizeOf<FuseCustomIo>(),
        ["fuse_in_header"] = Unsafe.SizeOf<FuseInHeader>(),
        ["fuse_out_header"] = Unsafe.SizeOf<FuseOutHeader>(),
        ["fuse_init_out"] = Unsafe.SizeOf<FuseInitOut>(),
        ["fuse_open_out"] = Unsafe.SizeOf<FuseOpenOut>(),
        ["fuse_lowlevel_ops"] = Unsafe.SizeOf<FuseLowLevelOps>(),
    };

    // fuse_file_info bitfields: the probe gives the bit index from the struct start; ours live in the uint at Bits.
    private static readonly Dictionary<string, uint> Bits = new()
    {
        ["fuse_file_info.writepage"] = FuseFileInfo.WritepageBit,
        ["fuse_file_info.direct_io"] = FuseFileInfo.DirectIoBit,
        ["fuse_file_info.keep_cache"] = FuseFileInfo.KeepCacheBit,
        ["fuse_file_info.flush"] = FuseFileInfo.FlushBit,
        ["fuse_file_info.nonseekable"] = FuseFileInfo.NonseekableBit,
        ["fuse_file_info.flock_release"] = FuseFileInfo.FlockReleaseBit,
        ["fuse_file_info.cache_readdir"] = FuseFileInfo.CacheReaddirBit,
        ["fuse_file_info.noflush"] = FuseFileInfo.NoflushBit,
    };

    private static readonly Dictionary<string, long> Constants = new()
    {
        ["FUSE_MAJOR_VERSION"] = 3,
        ["FUSE_MINOR_VERSION"] = 14,
        ["FUSE_CAP_ASYNC_READ"] = (long)FuseCapability.AsyncRead,
        ["FUSE_CAP_POSIX_LOCKS"] = (long)FuseCapability.PosixLocks,
        ["FUSE_CAP_ATOMIC_O_TRUNC"] = (long)FuseCapability.AtomicOTrunc,
        ["FUSE_CAP_EXPORT_SUPPORT"] = (long)FuseCapability.ExportSupport,
        ["FUSE_CAP_DONT_MASK"] = (long)FuseCapability.DontMask,
        ["FUSE_CAP_SPLICE_WRITE"] = (long)FuseCapability.SpliceWrite,
        ["FUSE_CAP_SPLICE_MOVE"] = (long)FuseCapability.SpliceMove,
        ["FUSE_CAP_SPLICE_READ"] = (long)FuseCapability.SpliceRead,
        ["FUSE_CAP_FLOCK_LOCKS"] = (long)FuseCapability.FlockLocks,
        ["FUSE_CAP_IOCTL_DIR"] = (long)FuseCapability.IoctlDir,
        ["FUSE_CAP_AUTO_INVAL_DATA"] = (long)FuseCapability.AutoInvalData,
        ["FUSE_CAP_READDIRPLUS"] = (long)FuseCapability.ReaddirPlus,
        ["FUSE_CAP_READDIRPLUS_AUTO"] = (long)FuseCapability.ReaddirPlusAuto,
        ["FUSE_CAP_ASYNC_DIO"] = (long)FuseCapability.AsyncDio,
        ["FUSE_CAP_WRITEBACK_CACHE"] = (long)FuseCapability.WritebackCache,
        ["FUSE_CAP_NO_OPEN_SUPPORT"] = (long)FuseCapability.NoOpenSupport,
        ["FUSE_CAP_PARALLEL_DIROPS"] = (long)FuseCapability.ParallelDirops,
        ["FUSE_CAP_POSIX_ACL"] = (long)FuseCapability.PosixAcl,
        ["FUSE_CAP_HANDLE_KILLPRIV"] = (long)FuseCapability.HandleKillpriv,
        ["FUSE_CAP_CACHE_SYMLINKS"] = (long)FuseCapability.CacheSymlinks,
        ["FUSE_CAP_NO_OPENDIR_SUPPORT"] = (long)FuseCapability.NoOpendirSupport,
        ["FUSE_CAP_EXPLICIT_INVAL_DATA"] = (long)FuseCapability.ExplicitInvalData,
        ["FUSE_CAP_EXPIRE_ONLY"] = (long)FuseCapability.ExpireOnly,
        ["FUSE_BUF_IS_FD"] = (long)FuseBufFlags.IsFd,
        ["FUSE_BUF_FD_SEEK"] = (long)FuseBufFlags.FdSeek,
        ["FUSE_BUF_FD_RETRY"] = (long)FuseBufFlags.FdRetry,
        ["FUSE_BUF_NO_SPLICE"] = (long)FuseBufCopyFlags.NoSplice,
        ["FUSE_BUF_FORCE_SPLICE"] = (long)FuseBufCopyFlags.ForceSplice,
        ["FUSE_BUF_SPLICE_MOVE"] = (long)FuseBufCopyFlags.SpliceMove,
        ["FUSE_BUF_SPLICE_NONBLOCK"] = (long)FuseBufCopyFlags.SpliceNonblock,
        ["FUSE_INIT"] = FuseKernel.OpcodeInit,
        ["FUSE_INIT_EXT"] = FuseKernel.InitExt,
        ["FOPEN_NOFLUSH"] = FuseKernel.OpenNoFlush,
    };

    /// <summary>The managed byte offset of each fuse_lowlevel_ops member, by C name.</summary>
    private static Dictionary<string, int> OperationOffsets()
    {
        FuseLowLevelOps ops = default;
        var start = (byte*)&ops;
        int At(void* field) => (int)((byte*)field - start);
        return new Dictionary<string, int>
        {
            ["init"] = At(&ops.Init), ["destroy"] = At(&ops.Destroy), ["lookup"] = At(&ops.Lookup),
            ["forget"] = At(&ops.Forget), ["getattr"] = At(&ops.GetAttr), ["setattr"] = At(&ops.SetAttr),
            ["readlink"] = At(&ops.ReadLink), ["mknod"] = At(&ops.MkNod), ["mkdir"] = At(&ops.MkDir),
            ["unlink"] = At(&ops.Unlink), ["rmdir"] = At(&ops.RmDir), ["symlink"] = At(&ops.Symlink),
            ["rename"] = At(&ops.Rename), ["link"] = At(&ops.Link), ["open"] = At(&ops.Open),
            ["read"] = At(&ops.Read), ["write"] = At(&ops.Write), ["flush"] = At(&ops.Flush),
            ["release"] = At(&ops.Release), ["fsync"] = At(&ops.Fsync), ["opendir"] = At(&ops.OpenDir),
            ["readdir"] = At(&ops.ReadDir), ["releasedir"] = At(&ops.ReleaseDir), ["fsyncdir"] = At(&ops.FsyncDir),
            ["statfs"] = At(&ops.StatFs), ["setxattr"] = At(&ops.SetXattr), ["getxattr"] = At(&ops.GetXattr),
            ["listxattr"] = At(&ops.ListXattr), ["removexattr"] = At(&ops.RemoveXattr), ["access"] = At(&ops.Access),
            ["create"] = At(&ops.Create), ["getlk"] = At(&ops.GetLk), ["setlk"] = At(&ops.SetLk),
            ["bmap"] = At(&ops.Bmap), ["ioctl"] = At(&ops.Ioctl), ["poll"] = At(&ops.Poll),
            ["write_buf"] = At(&ops.WriteBuf), ["retrieve_reply"] = At(&ops.RetrieveReply),
            ["forget_multi"] = At(&ops.ForgetMulti), ["flock"] = At(&ops.Flock), ["fallocate"] = At(&ops.Fallocate),
            ["readdirplus"] = At(&ops.ReadDirPlus), ["copy_file_range"] = At(&ops.CopyFileRange), ["lseek"] = At(&ops.Lseek),
        };
    }

    [Test]
    public void EveryStructSizeMatches()
    {
        Assert.Multiple(() =>
        {
            foreach (var (name, size) in Sizes)
            {
                Assert.That(size, Is.EqualTo(layout.Size(name)), $"sizeof(struct {name})");
            }
        });
    }

    [Test]
    public void EveryProbedFieldHasAManagedMirrorAtTheSameOffset()
    {
        var probed = layout.Fields.Where(f => !f.Key.StartsWith("fuse_lowlevel_ops.", StringComparison.Ordinal)).ToList();
        Assert.That(probed, Has.Count.EqualTo(Fields.Count), "the probe and the managed table list the same fields");
        Assert.Multiple(() =>
        {
            foreach (var (name, native) in probed)
            {
                Assert.That(Fields.TryGetValue(name, out var managed), Is.True, $"{name} has a managed mirror");
                Assert.That(managed, Is.EqualTo(native), $"{name} (offset, size)");
            }
        });
    }

    [Test]
    public void FileInfoBitfieldsSitInBitsAtTheirNativePositions()
    {
        var bitsOffset = (int)Marshal.OffsetOf<FuseFileInfo>(nameof(FuseFileInfo.Bits));
        Assert.That(layout.Bits, Has.Count.EqualTo(Bits.Count));
        Assert.Multiple(() =>
        {
            foreach (var (name, nativeBit) in layout.Bits)
            {
                Assert.That(Bits.TryGetValue(name, out var mask), Is.True, $"{name} has a managed mask");
                Assert.That(bitsOffset * 8 + BitOperations(mask), Is.EqualTo(nativeBit), name);
            }
        });
    }

    [Test]
    public void FileInfoAccessorsSetTheirBitOnly()
    {
        var info = new FuseFileInfo { KeepCache = true, CacheReaddir = true };
        Assert.That(info.Bits, Is.EqualTo(FuseFileInfo.KeepCacheBit | FuseFileInfo.CacheReaddirBit));
        info.KeepCache = false;
        Assert.That(info.Bits, Is.EqualTo(FuseFileInfo.CacheReaddirBit));
    }

    [Test]
    public void OperationTableFieldsFollowTheNativeOrder()
    {
        var native = layout.Fields.Where(f => f.Key.StartsWith("fuse_lowlevel_ops.", StringComparison.Ordinal)).ToList();
        var managed = OperationOffsets();
        Assert.That(native, Has.Count.EqualTo(FuseLowLevelOps.MemberCount));
        Assert.That(managed, Has.Count.EqualTo(FuseLowLevelOps.MemberCount));
        Assert.Multiple(() =>
        {
            for (var i = 0; i < native.Count; i++)
            {
                var (name, (offset, size)) = native[i];
                var member = name["fuse_lowlevel_ops.".Length..];
                Assert.That(offset, Is.EqualTo(8 * i), $"{name} is member {i}");
                Assert.That(size, Is.EqualTo(8), name);
                Assert.That(managed.TryGetValue(member, out var managedOffset), Is.True, $"{member} exists in FuseLowLevelOps");
                Assert.That(managedOffset, Is.EqualTo(offset), member);
            }
        });
    }

    [Test]
    public void ConstantsMatchTheHeaders()
    {
        Assert.That(layout.Constants.Keys, Is.EquivalentTo(Constants.Keys));
        Assert.Multiple(() =>
        {
            foreach (var (name, value) in layout.Constants)
            {
                Assert.That(Constants[name], Is.EqualTo(value), name);
            }
        });
    }

    private static int BitOperations(uint mask) => System.Numerics.BitOperations.TrailingZeroCount(mask);

    /// <summary>The parsed probe output.</summary>
    private sealed class NativeLayout
    {
        public Dictionary<string, int> Sizes { get; } = new();
        public List<KeyValuePair<string, (int Offset, int Size)>> Fields { get; } = new();
        public Dictionary<string, int> Bits { get; } = new();
        public Dictionary<string, long> Constants { get; } = new();

        public int Size(string name) =>
            Sizes.TryGetValue(name, out var size) ? size : throw new AssertionException($"probe printed no size for {name}");

        public static NativeLayout Load()
        {
            var root = RepositoryRoot();
            var probe = Path.Combine(root, "native", "build", "fuse_layout_probe");
            if (!File.Exists(probe))
            {
                var (makeCode, makeOutput) = RunProcess("make", "-C", Path.Combine(root, "native"));
                Assert.That(makeCode, Is.Zero, "make -C native: " + makeOutput);
            }
            var (code, output) = RunProcess(probe);
            Assert.That(code, Is.Zero, output);
            var layout = new NativeLayout();
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var parts = line.Split(' ');
                switch (parts[0])
                {
                    case "size": layout.Sizes[parts[1]] = int.Parse(parts[2]); break;
                    case "field": layout.Fields.Add(new(parts[1], (int.Parse(parts[2]), int.Parse(parts[3])))); break;
                    case "bit": layout.Bits[parts[1]] = int.Parse(parts[2]); break;
                    case "const": layout.Constants[parts[1]] = long.Parse(parts[2]); break;
                    default: throw new AssertionException($"unexpected probe line: {line}");
                }
            }
            return layout;
        }

        private static string RepositoryRoot()
        {
            for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "TvixLowFs.sln"))) return dir.FullName;
            }
            throw new AssertionException("TvixLowFs.sln not found above " + TestContext.CurrentContext.TestDirectory);
        }

        private static (int Code, string Output) RunProcess(string file, params string[] arguments)
        {
            var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in arguments) start.ArgumentList.Add(argument);
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout + stderr.Result);
        }
    }
}
