using NUnit.Framework;
using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Every RPC and every rejection rule of the daemon, driven through a plain GrpcChannel with
/// only the generated client classes, as a tvix/snix client would.
/// </summary>
[TestFixture(Transport.Tcp)]
[TestFixture(Transport.Unix)]
public sealed class DaemonRpcTests(Transport transport)
{
    private TestDaemon _daemon = null!;
    private GrpcChannel _channel = null!;
    private BlobService.BlobServiceClient _blobs = null!;
    private DirectoryService.DirectoryServiceClient _directories = null!;
    private PathInfoService.PathInfoServiceClient _pathInfos = null!;

    [SetUp]
    public async Task StartDaemon()
    {
        _daemon = await TestDaemon.StartAsync(transport);
        _channel = _daemon.OpenPlainChannel();
        _blobs = new BlobService.BlobServiceClient(_channel);
        _directories = new DirectoryService.DirectoryServiceClient(_channel);
        _pathInfos = new PathInfoService.PathInfoServiceClient(_channel);
    }

    [TearDown]
    public async Task StopDaemon()
    {
        _channel.Dispose();
        await _daemon.DisposeAsync();
    }

    private static StatusCode StatusOf(Func<Task> call)
    {
        try
        {
            call().GetAwaiter().GetResult();
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
        Assert.Fail("the call succeeded; expected a gRPC error status");
        return StatusCode.OK;
    }

    private async Task<ByteString> PutBlob(byte[] bytes, int chunk = 100_000)
    {
        using var put = _blobs.Put();
        for (int offset = 0; offset < bytes.Length; offset += chunk)
            await put.RequestStream.WriteAsync(new BlobChunk { Data = ByteString.CopyFrom(bytes, offset, Math.Min(chunk, bytes.Length - offset)) });
        await put.RequestStream.CompleteAsync();
        return (await put).Digest;
    }

    private async Task<List<T>> ReadAll<T>(AsyncServerStreamingCall<T> call)
    {
        var list = new List<T>();
        await foreach (var item in call.ResponseStream.ReadAllAsync())
            list.Add(item);
        call.Dispose();
        return list;
    }

    private async Task<PutDirectoryResponse> PutDirectories(params Directory[] directories)
    {
        using var put = _directories.Put();
        foreach (var directory in directories)
            await put.RequestStream.WriteAsync(directory);
        await put.RequestStream.CompleteAsync();
        return await put;
    }

    [Test]
    public void ServiceNamesAreTheTvixOnes()
    {
        Assert.That(BlobService.Descriptor.FullName, Is.EqualTo("tvix.castore.v1.BlobService"));
        Assert.That(DirectoryService.Descriptor.FullName, Is.EqualTo("tvix.castore.v1.DirectoryService"));
        Assert.That(PathInfoService.Descriptor.FullName, Is.EqualTo("tvix.store.v1.PathInfoService"));
        Assert.That(PathInfoService.Descriptor.Methods.Select(m => m.Name), Is.EquivalentTo(new[] { "Get", "Put", "CalculateNAR", "List" }));
    }

    [Test]
    public async Task BlobPutComputesTheDigestAndReadReturnsTheBytesInSmallChunks()
    {
        byte[] bytes = Samples.Bytes(1_300_000, 7);
        var digest = await PutBlob(bytes);
        Assert.That(digest, Is.EqualTo(B3Digest.Compute(bytes).ToByteString()));

        var stat = await _blobs.StatAsync(new StatBlobRequest { Digest = digest, SendChunks = true });
        Assert.That(stat.Chunks.Sum(c => (long)c.Size), Is.EqualTo(bytes.Length));

        var chunks = await ReadAll(_blobs.Read(new ReadBlobRequest { Digest = digest }));
        Assert.That(chunks, Has.Count.GreaterThan(1));
        Assert.That(chunks.Max(c => c.Data.Length), Is.LessThanOrEqualTo(BlobServiceEndpoint.ReadChunkSize));
        Assert.That(chunks.SelectMany(c => c.Data.ToByteArray()).ToArray(), Is.EqualTo(bytes));
    }

    [Test]
    public async Task EmptyBlobHasTheEmptyDigestAndReadsAsNothing()
    {
        using (var put = _blobs.Put())
        {
            await put.RequestStream.CompleteAsync();
            Assert.That((await put).Digest, Is.EqualTo(B3Digest.Empty.ToByteString()));
        }
        Assert.That(await _blobs.StatAsync(new StatBlobRequest { Digest = B3Digest.Empty.ToByteString() }), Is.Not.Null);
        var chunks = await ReadAll(_blobs.Read(new ReadBlobRequest { Digest = B3Digest.Empty.ToByteString() }));
        Assert.That(chunks.Sum(c => c.Data.Length), Is.Zero);
    }

    [Test]
    public void AbsentBlobIsNotFoundAndBadDigestsAreInvalid()
    {
        var absent = B3Digest.Compute("nope"u8).ToByteString();
        Assert.That(StatusOf(async () => await _blobs.StatAsync(new StatBlobRequest { Digest = absent })), Is.EqualTo(StatusCode.NotFound));
        Assert.That(StatusOf(async () => await ReadAll(_blobs.Read(new ReadBlobRequest { Digest = absent }))), Is.EqualTo(StatusCode.NotFound));
        var shortDigest = ByteString.CopyFrom(new byte[31]);
        Assert.That(StatusOf(async () => await _blobs.StatAsync(new StatBlobRequest { Digest = shortDigest })), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(StatusOf(async () => await ReadAll(_blobs.Read(new ReadBlobRequest { Digest = shortDigest }))), Is.EqualTo(StatusCode.InvalidArgument));
    }

    [Test]
    public async Task DirectoryGraphIsReadBackRootFirstBreadthFirstEachOnce()
    {
        var (root, leavesFirst) = Samples.Graph();
        var response = await PutDirectories(leavesFirst);
        var rootDigest = DirectoryRules.Digest(root);
        Assert.That(response.RootDigest, Is.EqualTo(rootDigest.ToByteString()));

        var received = await ReadAll(_directories.Get(new GetDirectoryRequest { Digest = rootDigest.ToByteString(), Recursive = true }));
        var digests = received.Select(DirectoryRules.Digest).ToList();
        Assert.That(digests[0], Is.EqualTo(rootDigest));
        Assert.That(digests, Is.Unique);
        Assert.That(digests, Is.EquivalentTo(leavesFirst.Select(DirectoryRules.Digest)));
        // Breadth-first: root, a, b, shared (from a), c (from b).
        var (a, b, c, shared) = (leavesFirst[2], leavesFirst[3], leavesFirst[1], leavesFirst[0]);
        Assert.That(received, Is.EqualTo(new[] { root, a, b, shared, c }));

        var single = await ReadAll(_directories.Get(new GetDirectoryRequest { Digest = DirectoryRules.Digest(b).ToByteString() }));
        Assert.That(single, Is.EqualTo(new[] { b }));
    }

    [Test]
    public void DirectoryGetRejectsMissingAndMalformedDigests()
    {
        Assert.That(StatusOf(() => ReadAll(_directories.Get(new GetDirectoryRequest { Digest = B3Digest.Compute("x"u8).ToByteString() }))),
            Is.EqualTo(StatusCode.NotFound));
        Assert.That(StatusOf(() => ReadAll(_directories.Get(new GetDirectoryRequest { Digest = B3Digest.Compute("x"u8).ToByteString(), Recursive = true }))),
            Is.EqualTo(StatusCode.NotFound));
        Assert.That(StatusOf(() => ReadAll(_directories.Get(new GetDirectoryRequest { Recursive = true }))), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(StatusOf(() => ReadAll(_directories.Get(new GetDirectoryRequest { Digest = ByteString.CopyFrom(new byte[33]) }))),
            Is.EqualTo(StatusCode.InvalidArgument));
    }

    /// <summary>Each case breaks one rule; the valid leaf sent before it must not be stored either.</summary>
    private static IEnumerable<TestCaseData> BrokenDirectories()
    {
        var file = Samples.File("f", [1, 2, 3]);
        var leaf = new Directory { Files = { file } };
        Directory With(Action<Directory> change)
        {
            var d = new Directory { Directories = { Samples.Child("leaf", leaf) } };
            change(d);
            return d;
        }
        yield return new TestCaseData(With(d => d.Files.Add(new[] { Samples.File("b", []), Samples.File("a", []) }))).SetName("files not sorted");
        yield return new TestCaseData(With(d => d.Files.Add(Samples.File("leaf", [])))).SetName("name used in two lists");
        yield return new TestCaseData(With(d => d.Files.Add(new[] { Samples.File("a", []), Samples.File("a", []) }))).SetName("duplicate name");
        yield return new TestCaseData(With(d => d.Files.Add(Samples.File("", [])))).SetName("empty name");
        yield return new TestCaseData(With(d => d.Files.Add(Samples.File(".", [])))).SetName("dot name");
        yield return new TestCaseData(With(d => d.Files.Add(Samples.File("..", [])))).SetName("dotdot name");
        yield return new TestCaseData(With(d => d.Files.Add(Samples.File("a/b", [])))).SetName("slash in name");
        yield return new TestCaseData(With(d => d.Files.Add(Samples.File("a\0b", [])))).SetName("NUL in name");
        yield return new TestCaseData(With(d => d.Files.Add(Samples.File(new string('n', 256), [])))).SetName("name of 256 bytes");
        yield return new TestCaseData(With(d => d.Files.Add(new FileNode { Name = Samples.Name("g"), Digest = ByteString.CopyFrom(new byte[31]) }))).SetName("short file digest");
        yield return new TestCaseData(With(d => d.Symlinks.Add(new SymlinkNode { Name = Samples.Name("s") }))).SetName("empty symlink target");
        yield return new TestCaseData(With(d => d.Symlinks.Add(Samples.Symlink("s", "a\0b")))).SetName("NUL in symlink target");
        yield return new TestCaseData(With(d => d.Directories[0].Size = 7)).SetName("wrong child size");
        yield return new TestCaseData(With(d => d.Directories[0].Digest = ByteString.CopyFrom(new byte[32]))).SetName("child neither sent nor stored");
        yield return new TestCaseData(With(d => d.Directories[0].Digest = ByteString.CopyFrom(new byte[16]))).SetName("short child digest");
    }

    [TestCaseSource(nameof(BrokenDirectories))]
    public async Task DirectoryPutRejectsTheWholeStream(Directory broken)
    {
        var leaf = new Directory { Files = { Samples.File("f", [1, 2, 3]) } };
        Assert.That(StatusOf(() => PutDirectories(leaf, broken)), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(StatusOf(() => ReadAll(_directories.Get(new GetDirectoryRequest { Digest = DirectoryRules.Digest(leaf).ToByteString() }))),
            Is.EqualTo(StatusCode.NotFound), "the valid leaf of a rejected stream was stored");
        // The store still works after the rejection.
        Assert.That((await PutDirectories(leaf)).RootDigest, Is.EqualTo(DirectoryRules.Digest(leaf).ToByteString()));
    }

    [Test]
    public async Task DirectoryPutRejectsAnEmptyStreamAndDirectoriesTheRootDoesNotReach()
    {
        Assert.That(StatusOf(() => PutDirectories()), Is.EqualTo(StatusCode.InvalidArgument));
        var stray = new Directory { Symlinks = { Samples.Symlink("s", "t") } };
        var root = new Directory { Files = { Samples.File("f", [1]) } };
        Assert.That(StatusOf(() => PutDirectories(stray, root)), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(StatusOf(() => ReadAll(_directories.Get(new GetDirectoryRequest { Digest = DirectoryRules.Digest(root).ToByteString() }))),
            Is.EqualTo(StatusCode.NotFound));
    }

    [Test]
    public async Task DirectoryPutAcceptsChildrenAlreadyStored()
    {
        var leaf = new Directory { Files = { Samples.File("f", [1, 2, 3]) } };
        await PutDirectories(leaf);
        var parent = new Directory { Directories = { Samples.Child("leaf", leaf) } };
        Assert.That((await PutDirectories(parent)).RootDigest, Is.EqualTo(DirectoryRules.Digest(parent).ToByteString()));
    }

    [Test]
    public async Task PathInfoIsReturnedExactlyAsPutAndListed()
    {
        var pathInfo = Samples.PathInfo();
        pathInfo.Narinfo.Deriver = new TvixLowFs.Protos.Store.StorePath { Name = "hello.drv", Digest = ByteString.CopyFrom(Samples.StorePathHashBytes) };
        pathInfo.Narinfo.Ca = new NARInfo.Types.CA { Type = NARInfo.Types.CA.Types.Hash.NarSha256, Digest = ByteString.CopyFrom(new byte[32]) };
        var put = await _pathInfos.PutAsync(pathInfo);
        Assert.That(put, Is.EqualTo(pathInfo));

        var got = await _pathInfos.GetAsync(new GetPathInfoRequest { ByOutputHash = ByteString.CopyFrom(Samples.StorePathHashBytes) });
        Assert.That(got.ToByteArray(), Is.EqualTo(pathInfo.ToByteArray()));

        var listed = await ReadAll(_pathInfos.List(new ListPathInfoRequest()));
        Assert.That(listed, Is.EqualTo(new[] { pathInfo }));
    }

    [Test]
    public void PathInfoGetRejectsMalformedAndMissingHashes()
    {
        Assert.That(StatusOf(async () => await _pathInfos.GetAsync(new GetPathInfoRequest())), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(StatusOf(async () => await _pathInfos.GetAsync(new GetPathInfoRequest { ByOutputHash = ByteString.CopyFrom(new byte[19]) })),
            Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(StatusOf(async () => await _pathInfos.GetAsync(new GetPathInfoRequest { ByOutputHash = ByteString.CopyFrom(new byte[20]) })),
            Is.EqualTo(StatusCode.NotFound));
    }

    private static IEnumerable<TestCaseData> BrokenPathInfos()
    {
        PathInfo With(Action<PathInfo> change)
        {
            var p = Samples.PathInfo();
            change(p);
            return p;
        }
        yield return new TestCaseData(With(p => p.Node = null)).SetName("no node");
        yield return new TestCaseData(With(p => p.Node.Symlink.Name = Samples.Name("hello"))).SetName("name not a store path");
        yield return new TestCaseData(With(p => p.Node.Symlink.Name = Samples.Name(Samples.StorePathHashText + "-.hidden"))).SetName("name starts with a dot");
        yield return new TestCaseData(With(p => p.Node.Symlink.Target = ByteString.Empty)).SetName("empty symlink target");
        yield return new TestCaseData(With(p => p.References.Add(ByteString.CopyFrom(new byte[19])))).SetName("short reference");
        yield return new TestCaseData(With(p => p.Narinfo.NarSha256 = ByteString.CopyFrom(new byte[31]))).SetName("short nar_sha256");
        yield return new TestCaseData(With(p => p.Node = new Node { File = new FileNode { Name = Samples.Name(Samples.StorePathHashText + "-f"), Digest = ByteString.CopyFrom(new byte[5]) } }))
            .SetName("short file digest");
    }

    [TestCaseSource(nameof(BrokenPathInfos))]
    public async Task PathInfoPutRejectsBrokenRules(PathInfo broken)
    {
        Assert.That(StatusOf(async () => await _pathInfos.PutAsync(broken)), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(await ReadAll(_pathInfos.List(new ListPathInfoRequest())), Is.Empty);
    }

    private static byte[] NarString(string s)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(s);
        var result = new byte[8 + (bytes.Length + 7) / 8 * 8];
        BitConverter.TryWriteBytes(result.AsSpan(0, 8), (ulong)bytes.Length);
        bytes.CopyTo(result, 8);
        return result;
    }

    [Test]
    public async Task CalculateNarOfASymlinkAndOfAFileIgnoresTheNodeName()
    {
        byte[] symlinkNar = new[] { "nix-archive-1", "(", "type", "symlink", "target", "/nix/store/somewhereelse", ")" }.SelectMany(NarString).ToArray();
        var symlink = await _pathInfos.CalculateNARAsync(new Node { Symlink = new SymlinkNode { Target = ByteString.CopyFromUtf8("/nix/store/somewhereelse") } });
        Assert.That(symlink.NarSize, Is.EqualTo((ulong)symlinkNar.Length));
        Assert.That(symlink.NarSha256.ToByteArray(), Is.EqualTo(SHA256.HashData(symlinkNar)));

        byte[] contents = "hello\n"u8.ToArray();
        await PutBlob(contents);
        byte[] fileNar = new[] { "nix-archive-1", "(", "type", "regular", "executable", "", "contents" }.SelectMany(NarString)
            .Concat(NarString("hello\n")).Concat(NarString(")")).ToArray();
        var file = await _pathInfos.CalculateNARAsync(new Node { File = Samples.File("ignored", contents, executable: true) });
        Assert.That(file.NarSize, Is.EqualTo((ulong)fileNar.Length));
        Assert.That(file.NarSha256.ToByteArray(), Is.EqualTo(SHA256.HashData(fileNar)));
    }

    [Test]
    public void CalculateNarRejectsAnEmptyNodeAndReportsMissingContent()
    {
        Assert.That(StatusOf(async () => await _pathInfos.CalculateNARAsync(new Node())), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(StatusOf(async () => await _pathInfos.CalculateNARAsync(new Node { File = Samples.File("", [9, 9, 9]) })),
            Is.EqualTo(StatusCode.NotFound));
    }
}
