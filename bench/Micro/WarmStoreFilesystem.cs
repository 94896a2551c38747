using Microsoft.Extensions.Logging.Abstractions;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.TestSupport;
using TvixLowFs.Store;
using TvixLowFs.Store.Import;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Bench.Micro;

/// <summary>
/// A store filesystem over a local:// store holding one imported tree, with every inode the
/// dispatch benchmarks touch already looked up, opened and fetched, so each request they send is
/// a hit. Replies go to a <see cref="AllocationFreeReplySink"/>. The tree:
/// <c>blob</c> (1 MiB), <c>link</c> → blob, <c>dir/</c> with <see cref="ChildCount"/> small files.
/// </summary>
public sealed class WarmStoreFilesystem : IAsyncDisposable
{
    public const int ChildCount = 1000;
    public const int BlobSize = 1 << 20;

    private readonly string _scratch;
    private readonly StoreServices _store;

    private WarmStoreFilesystem(string scratch, StoreServices store, StoreFilesystem filesystem, AllocationFreeReplySink sink)
    {
        _scratch = scratch;
        _store = store;
        Filesystem = filesystem;
        Sink = sink;
    }

    public StoreFilesystem Filesystem { get; }
    public AllocationFreeReplySink Sink { get; }

    /// <summary>The store path's basename (a root lookup name).</summary>
    public byte[] StorePathName { get; private set; } = [];
    public ulong Tree { get; private set; }
    public ulong Blob { get; private set; }
    public ulong Link { get; private set; }
    public ulong Dir { get; private set; }

    /// <summary>The children of <see cref="Dir"/> by index: names (no NUL) and inodes.</summary>
    public byte[][] ChildNames { get; } = new byte[ChildCount][];
    public ulong[] ChildInodes { get; } = new ulong[ChildCount];

    public static byte[] ChildName(int index) => System.Text.Encoding.ASCII.GetBytes($"f{index:D4}");

    /// <param name="wrapSink">
    /// What the filesystem replies to, given the recorder (warm-up waits on the recorder, so the
    /// wrapper must forward to it until warm-up is over); default: the recorder itself.
    /// </param>
    public static async Task<WarmStoreFilesystem> CreateAsync(Func<AllocationFreeReplySink, IFuseReplySink>? wrapSink = null)
    {
        string scratch = Path.Combine(Path.GetTempPath(), "tvixlowfs-dispatch-" + Guid.NewGuid().ToString("N"));
        string tree = Path.Combine(scratch, "tree");
        System.IO.Directory.CreateDirectory(Path.Combine(tree, "dir"));
        var content = new byte[BlobSize];
        new Random(5).NextBytes(content);
        await File.WriteAllBytesAsync(Path.Combine(tree, "blob"), content);
        File.CreateSymbolicLink(Path.Combine(tree, "link"), "blob");
        for (int i = 0; i < ChildCount; i++)
            await File.WriteAllTextAsync(Path.Combine(tree, "dir", $"f{i:D4}"), $"{i}\n");

        StoreServices store = new StoreOpener().Open(StoreAddress.ForLocalDirectory(Path.Combine(scratch, "store")));
        Store.Model.StorePath storePath = await new PathImporter(store).ImportAsync(tree);

        var sink = new AllocationFreeReplySink();
        var filesystem = new StoreFilesystem(store, wrapSink?.Invoke(sink) ?? sink, new StoreFilesystemOptions { ShowXattr = true }, NullLogger.Instance);
        var warm = new WarmStoreFilesystem(scratch, store, filesystem, sink) { StorePathName = storePath.BasenameBytes() };
        warm.Tree = warm.LookupWaiting(StoreFilesystem.RootInode, warm.StorePathName);
        warm.Blob = warm.LookupWaiting(warm.Tree, "blob"u8.ToArray());
        warm.Link = warm.LookupWaiting(warm.Tree, "link"u8.ToArray());
        warm.Dir = warm.LookupWaiting(warm.Tree, "dir"u8.ToArray());
        for (int i = 0; i < ChildCount; i++)
        {
            warm.ChildNames[i] = ChildName(i);
            warm.ChildInodes[i] = warm.LookupWaiting(warm.Dir, warm.ChildNames[i]);
        }
        warm.Answer(warm.OpenBlob, RecordedReply.Open);
        warm.Answer(warm.OpenDir, RecordedReply.Open);
        return warm;
    }

    private long _request;

    public FuseRequest NextRequest() => new((nint)Interlocked.Increment(ref _request));

    private unsafe void OpenBlob()
    {
        FuseFileInfo info = default;
        Filesystem.Open(NextRequest(), Blob, &info);
    }

    private unsafe void OpenDir()
    {
        FuseFileInfo info = default;
        Filesystem.OpenDir(NextRequest(), Dir, &info);
    }

    private ulong LookupWaiting(ulong parent, byte[] name)
    {
        Answer(() => Filesystem.Lookup(NextRequest(), parent, name), RecordedReply.Entry);
        return Sink.LastEntry.Ino;
    }

    /// <summary>Sends one request (a miss during warm-up), waits for its reply and checks its kind.</summary>
    private void Answer(Action send, RecordedReply expected)
    {
        long before = Sink.Count;
        send();
        if (!Sink.WaitForCountAbove(before, TimeSpan.FromSeconds(60)))
            throw new TimeoutException("warm-up request got no reply");
        if (Sink.LastKind != expected)
            throw new InvalidOperationException($"warm-up: expected {expected}, got {Sink.LastKind} errno {Sink.LastErrno}");
    }

    public async ValueTask DisposeAsync()
    {
        Filesystem.Destroy();
        await _store.DisposeAsync();
        System.IO.Directory.Delete(_scratch, recursive: true);
    }
}
