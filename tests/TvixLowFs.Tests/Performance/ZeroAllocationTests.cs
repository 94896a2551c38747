using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.TestSupport;
using TvixLowFs.Store;
using TvixLowFs.Store.Import;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Performance;

/// <summary>
/// Steady state of the request path: once everything a request needs is in memory, the store
/// filesystem answers it inline on the calling (FUSE worker) thread without allocating a byte.
/// Each kind of hit request is dispatched 10,000 times through the real handlers, replies going
/// to the recording sink; allocation is deterministic, so the assertion is exact (no timing).
/// Runs over a local:// store (reads answered from the blob's descriptor) and a memory:// store.
/// </summary>
[TestFixture("local")]
[TestFixture("memory")]
public sealed class ZeroAllocationTests(string storeKind)
{
    private const int Requests = 10_000;
    private const int MeasuredRounds = 5;
    private const int ChildCount = 1000;
    private const int BlobSize = 1 << 20;
    private const int ReadSize = 128 * 1024;
    private const long ReadOffset = 256 * 1024;

    private string _scratch = null!;
    private byte[] _blobContent = null!;
    private StoreServices _store = null!;
    private StoreFilesystem _filesystem = null!;
    private AllocationFreeReplySink _sink = null!;
    private byte[] _storePathName = null!;
    private ulong _tree, _blob, _link, _dir;
    private readonly byte[][] _childNames = new byte[ChildCount][];
    private readonly ulong[] _childInodes = new ulong[ChildCount];
    private long _nextRequest;

    public enum Hit
    {
        LookupStorePath,
        LookupChild,
        LookupAbsentChild,
        LookupInvalidRootName,
        LookupAndForget,
        GetAttr,
        ReadLink,
        Access,
        StatFs,
        OpenFile,
        ReadFile,
        ReleaseFile,
        OpenDir,
        ReadDir4KiB,
        ReadDir128KiB,
        ReadDirPlus4KiB,
        ReadDirPlus128KiB,
        /// <summary>Linux 6.18 asks for pages this large (up to max_pages) on big directories.</summary>
        ReadDirPlus1MiB,
        ReleaseDir,
        GetXattr,
        GetXattrSize,
        ListXattr,
    }

    [OneTimeSetUp]
    public async Task CreateWarmFilesystemAsync()
    {
        _scratch = Path.Combine(Path.GetTempPath(), "tvixlowfs-zeroalloc-" + Guid.NewGuid().ToString("N"));
        string tree = Path.Combine(_scratch, "tree");
        System.IO.Directory.CreateDirectory(Path.Combine(tree, "dir"));
        _blobContent = new byte[BlobSize];
        new Random(5).NextBytes(_blobContent);
        await File.WriteAllBytesAsync(Path.Combine(tree, "blob"), _blobContent);
        File.CreateSymbolicLink(Path.Combine(tree, "link"), "blob");
        for (int i = 0; i < ChildCount; i++)
            await File.WriteAllTextAsync(Path.Combine(tree, "dir", $"f{i:D4}"), $"{i}\n");

        StoreAddress address = storeKind == "local" ? StoreAddress.ForLocalDirectory(Path.Combine(_scratch, "store")) : StoreAddress.Memory;
        _store = new StoreOpener().Open(address);
        _storePathName = (await new PathImporter(_store).ImportAsync(tree)).BasenameBytes();

        _sink = new AllocationFreeReplySink();
        _filesystem = new StoreFilesystem(_store, _sink, new StoreFilesystemOptions { ShowXattr = true }, NullLogger.Instance);
        _tree = LookupWaiting(StoreFilesystem.RootInode, _storePathName);
        _blob = LookupWaiting(_tree, "blob"u8.ToArray());
        _link = LookupWaiting(_tree, "link"u8.ToArray());
        _dir = LookupWaiting(_tree, "dir"u8.ToArray());
        for (int i = 0; i < ChildCount; i++)
        {
            _childNames[i] = System.Text.Encoding.ASCII.GetBytes($"f{i:D4}");
            _childInodes[i] = LookupWaiting(_dir, _childNames[i]);
        }
        AnswerWaiting(() => Dispatch(Hit.OpenFile, 0));
        Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.Open));
        AnswerWaiting(() => Dispatch(Hit.OpenDir, 0));
        Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.Open));
    }

    [OneTimeTearDown]
    public async Task DeleteStoreAsync()
    {
        _filesystem?.Destroy();
        if (_store is not null)
            await _store.DisposeAsync();
        if (_scratch is not null && System.IO.Directory.Exists(_scratch))
            System.IO.Directory.Delete(_scratch, recursive: true);
    }

    private FuseRequest NextRequest() => new((nint)(++_nextRequest));

    private void AnswerWaiting(Action send)
    {
        long before = _sink.Count;
        send();
        Assert.That(_sink.WaitForCountAbove(before, TimeSpan.FromSeconds(60)), Is.True, "warm-up request answered");
    }

    private ulong LookupWaiting(ulong parent, byte[] name)
    {
        AnswerWaiting(() => _filesystem.Lookup(NextRequest(), parent, name));
        Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.Entry), $"warm-up lookup errno {_sink.LastErrno}");
        return _sink.LastEntry.Ino;
    }

    /// <summary>One request of the given kind; <paramref name="i"/> varies the child so different inodes are used.</summary>
    private unsafe void Dispatch(Hit hit, int i)
    {
        FuseFileInfo info = default;
        StoreFilesystem fs = _filesystem;
        int child = i % ChildCount;
        switch (hit)
        {
            case Hit.LookupStorePath: fs.Lookup(NextRequest(), StoreFilesystem.RootInode, _storePathName); break;
            case Hit.LookupChild: fs.Lookup(NextRequest(), _dir, _childNames[child]); break;
            case Hit.LookupAbsentChild: fs.Lookup(NextRequest(), _dir, "g0001"u8); break;
            case Hit.LookupInvalidRootName: fs.Lookup(NextRequest(), StoreFilesystem.RootInode, "not-a-store-path"u8); break;
            case Hit.LookupAndForget:
                fs.Lookup(NextRequest(), _dir, _childNames[child]);
                fs.Forget(NextRequest(), _childInodes[child], 1);
                break;
            case Hit.GetAttr: fs.GetAttr(NextRequest(), _childInodes[child], null); break;
            case Hit.ReadLink: fs.ReadLink(NextRequest(), _link); break;
            case Hit.Access: fs.Access(NextRequest(), _childInodes[child], 4); break;
            case Hit.StatFs: fs.StatFs(NextRequest(), _tree); break;
            case Hit.OpenFile: fs.Open(NextRequest(), _blob, &info); break;
            case Hit.ReadFile: fs.Read(NextRequest(), _blob, ReadSize, ReadOffset, &info); break;
            case Hit.ReleaseFile: fs.Release(NextRequest(), _blob, &info); break;
            case Hit.OpenDir: fs.OpenDir(NextRequest(), _dir, &info); break;
            case Hit.ReadDir4KiB: fs.ReadDir(NextRequest(), _dir, 4096, 0, &info); break;
            case Hit.ReadDir128KiB: fs.ReadDir(NextRequest(), _dir, 128 * 1024, 0, &info); break;
            case Hit.ReadDirPlus4KiB: fs.ReadDirPlus(NextRequest(), _dir, 4096, 0, &info); break;
            case Hit.ReadDirPlus128KiB: fs.ReadDirPlus(NextRequest(), _dir, 128 * 1024, 0, &info); break;
            case Hit.ReadDirPlus1MiB: fs.ReadDirPlus(NextRequest(), _dir, 1 << 20, 0, &info); break;
            case Hit.ReleaseDir: fs.ReleaseDir(NextRequest(), _dir, &info); break;
            case Hit.GetXattr: fs.GetXattr(NextRequest(), _blob, "user.tvix.castore.blob.digest"u8, 256); break;
            case Hit.GetXattrSize: fs.GetXattr(NextRequest(), _dir, "user.tvix.castore.directory.digest"u8, 0); break;
            case Hit.ListXattr: fs.ListXattr(NextRequest(), _blob, 256); break;
            default: throw new ArgumentOutOfRangeException(nameof(hit));
        }
    }

    private static int RepliesPer(Hit hit) => hit == Hit.LookupAndForget ? 2 : 1;

    [Test]
    public void HitRequestsAllocateNothingAndReplyInline([Values] Hit hit)
    {
        // Warm-up until the JIT is done, then every measured round of Requests must allocate
        // nothing, measured on a thread that runs nothing else (SteadyStateAllocation says why).
        long replies = _sink.Count;
        SteadyStateAllocation.Round[] rounds = SteadyStateAllocation.Measure(() =>
        {
            for (int i = 0; i < Requests; i++)
                Dispatch(hit, i);
        }, MeasuredRounds);
        long measuredReplies = (long)MeasuredRounds * Requests * RepliesPer(hit);

        Assert.That(_sink.Count - replies, Is.GreaterThanOrEqualTo(measuredReplies), "every hit is answered inline, before the handler returns");
        Assert.That((_sink.Count - replies) % (Requests * RepliesPer(hit)), Is.Zero, "every hit is answered inline, before the handler returns");
        Assert.That(_sink.LastErrno, Is.EqualTo(hit is Hit.LookupAbsentChild or Hit.LookupInvalidRootName ? Libc.ENOENT : 0), $"last reply {_sink.LastKind}");
        Assert.That(rounds.Select(r => r.Bytes), Is.All.Zero, $"bytes allocated per round of {Requests} {hit} requests: {string.Join(", ", rounds)}");
        CheckLastReply(hit);
    }

    /// <summary>The replies are the real answers, not errors that happen to be cheap.</summary>
    private void CheckLastReply(Hit hit)
    {
        switch (hit)
        {
            case Hit.LookupStorePath:
                Assert.That((_sink.LastKind, _sink.LastEntry.Ino), Is.EqualTo((RecordedReply.Entry, _tree)));
                break;
            case Hit.LookupChild:
                Assert.That((_sink.LastKind, _sink.LastEntry.Ino), Is.EqualTo((RecordedReply.Entry, _childInodes[(Requests - 1) % ChildCount])));
                break;
            case Hit.GetAttr:
                Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.Attr));
                Assert.That(_sink.LastAttr.Ino, Is.EqualTo(_childInodes[(Requests - 1) % ChildCount]));
                break;
            case Hit.ReadLink:
                Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.ReadLink));
                Assert.That(_sink.LastPayload.ToArray(), Is.EqualTo("blob\0"u8.ToArray()));
                break;
            case Hit.ReadFile:
                CheckReadReply();
                break;
            case Hit.OpenFile or Hit.OpenDir:
                Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.Open));
                Assert.That(_sink.LastFileInfo.KeepCache, Is.True);
                break;
            case Hit.ReadDir4KiB or Hit.ReadDir128KiB or Hit.ReadDirPlus4KiB or Hit.ReadDirPlus128KiB or Hit.ReadDirPlus1MiB:
                Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.Buf));
                int page = hit is Hit.ReadDir4KiB or Hit.ReadDirPlus4KiB ? 4096 : 128 * 1024;
                // One pass fills the page: no more than one entry's worth left unused, unless the
                // whole directory fit ('.', '..' and 1000 children, each 32 bytes in plain readdir
                // and 128 + 32 in readdirplus).
                if (hit == Hit.ReadDir128KiB)
                    Assert.That(_sink.LastLength, Is.EqualTo((ChildCount + 2) * 32));
                else if (hit == Hit.ReadDirPlus1MiB)
                    Assert.That(_sink.LastLength, Is.EqualTo((ChildCount + 2) * 160));
                else
                    Assert.That(_sink.LastLength, Is.InRange(page - 160, page));
                break;
            case Hit.GetXattr:
                Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.Buf));
                Assert.That(_sink.LastLength, Is.EqualTo(B3Digest.PrintedLength));
                break;
            case Hit.GetXattrSize:
                Assert.That((_sink.LastKind, _sink.LastLength), Is.EqualTo((RecordedReply.Xattr, (long)B3Digest.PrintedLength)));
                break;
            case Hit.StatFs:
                Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.StatFs));
                break;
            case Hit.ListXattr:
                Assert.That(_sink.LastPayload.ToArray(), Is.EqualTo("user.tvix.castore.blob.digest\0"u8.ToArray()));
                break;
            case Hit.LookupAbsentChild or Hit.LookupInvalidRootName:
                Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.Err));
                break;
            default:
                Assert.That(_sink.LastKind, Is.AnyOf(RecordedReply.Err, RecordedReply.None));
                break;
        }
    }

    private void CheckReadReply()
    {
        byte[] expected = _blobContent.AsSpan((int)ReadOffset, ReadSize).ToArray();
        if (storeKind == "memory")
        {
            Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.Buf));
            Assert.That(_sink.LastPayload.ToArray(), Is.EqualTo(expected));
            return;
        }
        // local: the bytes never pass through managed memory; the bufvec names the blob's file.
        Assert.That(_sink.LastKind, Is.EqualTo(RecordedReply.Data));
        FuseBuf buffer = _sink.LastBuffers.Buf;
        Assert.That(_sink.LastBuffers.Count, Is.EqualTo((nuint)1));
        Assert.That(buffer.Flags & (FuseBufFlags.IsFd | FuseBufFlags.FdSeek), Is.EqualTo(FuseBufFlags.IsFd | FuseBufFlags.FdSeek));
        Assert.That((buffer.Pos, buffer.Size), Is.EqualTo((ReadOffset, (nuint)ReadSize)));
        using var file = new SafeFileHandle(buffer.Fd, ownsHandle: false);
        var actual = new byte[ReadSize];
        Assert.That(RandomAccess.Read(file, actual, buffer.Pos), Is.EqualTo(ReadSize));
        Assert.That(actual, Is.EqualTo(expected), "the descriptor holds the blob");
    }
}
