using NUnit.Framework;
using System.Collections.Concurrent;
using System.Text;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Tests.Fuse;

/// <summary>
/// A test double filesystem (the store filesystem is not the binding's to test): root (1) holds
/// hello.txt (2), link -> hello.txt (3) and broken.txt (4, whose read throws); looking up
/// "throw" throws; looking up "reply-then-throw" answers ENOENT and then throws. Every write-type request is recorded and refused with EROFS.
/// </summary>
internal sealed unsafe class HelloFilesystemDouble : IFuseOperations
{
    public const int ENOENT = 2, EIO = 5, EROFS = 30, ENODATA = 61, EINVAL = 22, EISDIR = 21;
    public static readonly byte[] HelloContent = Encoding.UTF8.GetBytes("Hello from the FUSE binding!\n");
    public static readonly byte[] LinkTarget = "hello.txt\0"u8.ToArray();

    private static readonly (byte[] Name, ulong Ino)[] RootEntries =
    [
        ("broken.txt\0"u8.ToArray(), 4),
        ("hello.txt\0"u8.ToArray(), 2),
        ("link\0"u8.ToArray(), 3),
        ("spliced.bin\0"u8.ToArray(), 5),
    ];

    private readonly IFuseReplySink reply = KernelReplySink.Instance;
    private readonly int splicedFd;
    private readonly long splicedLength;

    /// <param name="splicedFd">An open file served as spliced.bin (5) through fd-backed fuse_reply_data, or -1.</param>
    public HelloFilesystemDouble(int splicedFd = -1, long splicedLength = 0)
    {
        this.splicedFd = splicedFd;
        this.splicedLength = splicedLength;
    }

    public ConcurrentQueue<FuseModifyOperation> ModifyCalls { get; } = new();
    public FuseCapability Capable { get; private set; }
    public bool InitCalled { get; private set; }
    public bool DestroyCalled { get; private set; }
    public int ReadCalls;

    /// <summary>When set, reads of hello.txt signal <see cref="ReadEntered"/> and wait for this gate (an in-flight request).</summary>
    public ManualResetEventSlim? ReadGate { get; init; }
    public ManualResetEventSlim ReadEntered { get; } = new(false);

    public void Init(FuseConnInfo* connection)
    {
        InitCalled = true;
        Capable = (FuseCapability)connection->Capable;
        // Let libfuse splice fd-backed replies to the kernel when it can.
        connection->Want |= connection->Capable & (uint)FuseCapability.SpliceWrite;
    }

    public void Destroy() => DestroyCalled = true;

    private Stat AttrOf(ulong ino) => ino switch
    {
        5 => new Stat { Ino = 5, Mode = 0x8000 | 0x124, Nlink = 1, Size = splicedLength, Blksize = 4096, Blocks = (splicedLength + 511) / 512 },
        1 => new Stat { Ino = 1, Mode = 0x4000 | 0x16d, Nlink = 2, Blksize = 4096 },
        2 or 4 => new Stat { Ino = ino, Mode = 0x8000 | 0x124, Nlink = 1, Size = HelloContent.Length, Blksize = 4096, Blocks = 1 },
        3 => new Stat { Ino = 3, Mode = 0xA000 | 0x124, Nlink = 1, Size = LinkTarget.Length - 1, Blksize = 4096 },
        _ => default,
    };

    public void Lookup(FuseRequest request, ulong parent, ReadOnlySpan<byte> name)
    {
        if (name.SequenceEqual("throw"u8)) throw new InvalidOperationException("lookup of 'throw' fails on purpose");
        if (name.SequenceEqual("reply-then-throw"u8))
        {
            reply.Err(request, ENOENT);
            throw new InvalidOperationException("lookup of 'reply-then-throw' fails after answering");
        }
        if (parent == 1)
        {
            foreach (var (entryName, ino) in RootEntries)
            {
                if (ino == 5 && splicedFd < 0) continue;
                if (name.SequenceEqual(entryName.AsSpan(0, entryName.Length - 1)))
                {
                    reply.Entry(request, new FuseEntryParam { Ino = ino, Attr = AttrOf(ino), AttrTimeout = 1, EntryTimeout = 1 });
                    return;
                }
            }
        }
        reply.Err(request, ENOENT);
    }

    public void Forget(FuseRequest request, ulong inode, ulong lookupCount) => reply.None(request);

    public void ForgetMulti(FuseRequest request, ReadOnlySpan<FuseForgetData> forgets) => reply.None(request);

    public void GetAttr(FuseRequest request, ulong inode, FuseFileInfo* fileInfo)
    {
        if (inode is < 1 or > 5) { reply.Err(request, ENOENT); return; }
        reply.Attr(request, AttrOf(inode), 1);
    }

    public void ReadLink(FuseRequest request, ulong inode)
    {
        if (inode == 3) reply.ReadLink(request, LinkTarget);
        else reply.Err(request, EINVAL);
    }

    public void Open(FuseRequest request, ulong inode, FuseFileInfo* fileInfo)
    {
        if (inode == 1) { reply.Err(request, EISDIR); return; }
        if ((fileInfo->Flags & 3) != 0) { reply.Err(request, EROFS); return; }
        fileInfo->KeepCache = true;
        reply.Open(request, *fileInfo);
    }

    public void Read(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo)
    {
        Interlocked.Increment(ref ReadCalls);
        if (inode == 4) throw new IOException("read of broken.txt fails on purpose");
        if (inode == 5)
        {
            var available = Math.Max(0, splicedLength - offset);
            var buffers = KernelReplySink.FileBuffer(splicedFd, offset, (nuint)Math.Min((long)size, available));
            reply.Data(request, ref buffers, FuseBufCopyFlags.SpliceMove);
            return;
        }
        if (ReadGate is { } gate)
        {
            ReadEntered.Set();
            gate.Wait();
        }
        var start = (int)Math.Min(offset, HelloContent.Length);
        var length = (int)Math.Min((long)size, HelloContent.Length - start);
        reply.Buf(request, HelloContent.AsSpan(start, length));
    }

    public void Release(FuseRequest request, ulong inode, FuseFileInfo* fileInfo) => reply.Err(request, 0);

    public void OpenDir(FuseRequest request, ulong inode, FuseFileInfo* fileInfo)
    {
        if (inode != 1) { reply.Err(request, ENOENT); return; }
        reply.Open(request, *fileInfo);
    }

    public void ReadDir(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo) =>
        ListRoot(request, size, offset, plus: false);

    public void ReadDirPlus(FuseRequest request, ulong inode, nuint size, long offset, FuseFileInfo* fileInfo) =>
        ListRoot(request, size, offset, plus: true);

    private void ListRoot(FuseRequest request, nuint size, long offset, bool plus)
    {
        // ".", "..", then the entries; the offset of entry i is i + 1.
        Span<byte> buffer = stackalloc byte[(int)Math.Min(size, 4096u)];
        var used = 0;
        for (var i = (int)offset; i < RootEntries.Length + 2; i++)
        {
            var (name, ino) = i switch { 0 => (".\0"u8.ToArray(), 1ul), 1 => ("..\0"u8.ToArray(), 1ul), _ => RootEntries[i - 2] };
            if (ino == 5 && splicedFd < 0) continue;
            var remaining = buffer[used..];
            int entrySize;
            if (plus)
            {
                // "." and ".." carry no lookup (ino 0 in the entry param) so the kernel has nothing to forget.
                var entry = i < 2 ? new FuseEntryParam { Attr = AttrOf(1) } : new FuseEntryParam { Ino = ino, Attr = AttrOf(ino), AttrTimeout = 1, EntryTimeout = 1 };
                entrySize = FuseDirectoryBuffer.AddPlus(remaining, name, entry, i + 1);
            }
            else
            {
                entrySize = FuseDirectoryBuffer.Add(remaining, name, AttrOf(ino), i + 1);
            }
            if (entrySize > remaining.Length) break;
            used += entrySize;
        }
        reply.Buf(request, buffer[..used]);
    }

    public void ReleaseDir(FuseRequest request, ulong inode, FuseFileInfo* fileInfo) => reply.Err(request, 0);

    public void StatFs(FuseRequest request, ulong inode) =>
        reply.StatFs(request, new StatVfs { Bsize = 4096, Frsize = 4096, Namemax = 255, Flag = 1 /* ST_RDONLY */ });

    public void GetXattr(FuseRequest request, ulong inode, ReadOnlySpan<byte> name, nuint size) => reply.Err(request, ENODATA);

    public void ListXattr(FuseRequest request, ulong inode, nuint size) => reply.Xattr(request, 0);

    public void Access(FuseRequest request, ulong inode, int mask) => reply.Err(request, 0);

    public void Modify(FuseRequest request, FuseModifyOperation operation)
    {
        ModifyCalls.Enqueue(operation);
        reply.Err(request, EROFS);
    }
}
