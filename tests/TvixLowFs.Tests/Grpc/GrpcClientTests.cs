using NUnit.Framework;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Client;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Grpc;

/// <summary>Our store clients (the IBlobService etc. over gRPC) against a real daemon with a memory store.</summary>
[TestFixture(Transport.Tcp)]
[TestFixture(Transport.Unix)]
public sealed class GrpcClientTests(Transport transport)
{
    private TestDaemon _daemon = null!;
    private GrpcStoreConnector _connector = null!;
    private StoreServices _client = null!;

    [SetUp]
    public async Task Start()
    {
        _daemon = await TestDaemon.StartAsync(transport);
        _connector = new GrpcStoreConnector(new GrpcClientOptions());
        var address = StoreAddress.Parse(_daemon.Address);
        _client = new StoreOpener(_connector).Open(address);
    }

    [TearDown]
    public async Task Stop()
    {
        await _client.DisposeAsync();
        _connector.Dispose();
        await _daemon.DisposeAsync();
    }

    private static async Task<B3Digest> Write(IBlobService blobs, byte[] bytes, int piece)
    {
        await using var writer = blobs.OpenWrite();
        for (int offset = 0; offset < bytes.Length; offset += piece)
            await writer.WriteAsync(bytes.AsMemory(offset, Math.Min(piece, bytes.Length - offset)));
        return await writer.CloseAsync();
    }

    [Test]
    public async Task BlobWrittenInOddPiecesIsReadAtAnyOffsetFromOneFetch()
    {
        byte[] bytes = Samples.Bytes(3_000_001, 11);
        var digest = await Write(_client.Blobs, bytes, 777_777);
        Assert.That(digest, Is.EqualTo(B3Digest.Compute(bytes)));
        Assert.That(await _client.Blobs.StatAsync(digest), Is.EqualTo(bytes.Length));

        using var reader = await _client.Blobs.OpenReadAsync(digest);
        Assert.That(reader, Is.Not.Null);
        Assert.That(reader!.Length, Is.EqualTo(bytes.Length));
        Assert.That(reader.LocalFile, Is.Not.Null, "the fetched blob is held in a local file the FUSE read path can splice from");
        // Backward and scattered reads, served from the one fetch.
        foreach (long offset in new long[] { 2_999_000, 4096, 1_500_000, 0, 2_000_000 })
        {
            var buffer = new byte[4096];
            int read = await reader.ReadAtAsync(offset, buffer);
            int expected = (int)Math.Min(4096, bytes.Length - offset);
            Assert.That(read, Is.EqualTo(expected));
            Assert.That(buffer.AsSpan(0, read).SequenceEqual(bytes.AsSpan((int)offset, read)), $"bytes at {offset}");
        }
        Assert.That(await reader.ReadAtAsync(bytes.Length, new byte[10]), Is.Zero);
    }

    [Test]
    public async Task AbsentBlobIsNullAndEmptyBlobWorks()
    {
        var absent = B3Digest.Compute("absent"u8);
        Assert.That(await _client.Blobs.StatAsync(absent), Is.Null);
        Assert.That(await _client.Blobs.OpenReadAsync(absent), Is.Null);

        Assert.That(await Write(_client.Blobs, [], 1), Is.EqualTo(B3Digest.Empty));
        Assert.That(await _client.Blobs.StatAsync(B3Digest.Empty), Is.Zero);
        using var reader = await _client.Blobs.OpenReadAsync(B3Digest.Empty);
        Assert.That(reader!.Length, Is.Zero);
    }

    [Test]
    public async Task AnUnclosedBlobWriterStoresNothing()
    {
        byte[] bytes = Samples.Bytes(1000, 3);
        await using (var writer = _client.Blobs.OpenWrite())
            await writer.WriteAsync(bytes);
        Assert.That(await _client.Blobs.StatAsync(B3Digest.Compute(bytes)), Is.Null);
    }

    [Test]
    public async Task DirectoryGraphRoundTrips()
    {
        var (root, leavesFirst) = Samples.Graph();
        await using (var putter = _client.Directories.BeginPut())
        {
            foreach (var directory in leavesFirst)
                await putter.PutAsync(directory);
            Assert.That(await putter.CloseAsync(), Is.EqualTo(DirectoryRules.Digest(root)));
        }
        var rootDigest = DirectoryRules.Digest(root);
        Assert.That((await _client.Directories.GetAsync(rootDigest))?.Message, Is.EqualTo(root));
        var all = new List<Directory>();
        await foreach (var directory in _client.Directories.GetRecursiveAsync(rootDigest))
            all.Add(directory.Message);
        Assert.That(all[0], Is.EqualTo(root));
        Assert.That(all.Select(DirectoryRules.Digest), Is.EquivalentTo(leavesFirst.Select(DirectoryRules.Digest)));
        Assert.That(await _client.Directories.GetAsync(B3Digest.Compute("none"u8)), Is.Null);
        await Assert.ThrowsAsync<StoreNotFoundException>(async () =>
        {
            await foreach (var _ in _client.Directories.GetRecursiveAsync(B3Digest.Compute("none"u8))) { }
        });
    }

    [Test]
    public async Task DirectoryRejectionsBecomeValidationErrorsAndStoreNothing()
    {
        var leaf = new Directory { Files = { Samples.File("f", [1]) } };
        var orphanParent = new Directory { Directories = { new DirectoryNode { Name = Samples.Name("x"), Digest = ByteString.CopyFrom(new byte[32]), Size = 0 } } };
        // Valid as a message, so only the server can tell that its child is missing.
        await using (var putter = _client.Directories.BeginPut())
        {
            await putter.PutAsync(leaf);
            await Assert.ThrowsAsync<StoreValidationException>(async () =>
            {
                await putter.PutAsync(orphanParent);
                await putter.CloseAsync();
            });
        }
        Assert.That(await _client.Directories.GetAsync(DirectoryRules.Digest(leaf)), Is.Null);
        // Broken as a message: refused before anything is sent.
        var unsorted = new Directory { Files = { Samples.File("b", []), Samples.File("a", []) } };
        await Assert.ThrowsAsync<StoreValidationException>(async () => await _client.Directories.PutAsync(unsorted));
    }

    [Test]
    public async Task PathInfoRoundTripsListsAndCalculatesNar()
    {
        var pathInfo = Samples.PathInfo();
        Assert.That(await _client.PathInfos.PutAsync(pathInfo), Is.EqualTo(pathInfo));
        var hash = StorePathHash.FromBytes(Samples.StorePathHashBytes);
        Assert.That(await _client.PathInfos.GetAsync(hash), Is.EqualTo(pathInfo));
        Assert.That(await _client.PathInfos.GetAsync(StorePathHash.FromBytes(new byte[20])), Is.Null);
        var listed = new List<TvixLowFs.Protos.Store.PathInfo>();
        await foreach (var p in _client.PathInfos.ListAsync())
            listed.Add(p);
        Assert.That(listed, Is.EqualTo(new[] { pathInfo }));
        var nar = await _client.PathInfos.CalculateNarAsync(pathInfo.Node);
        var local = await _daemon.Store.PathInfos.CalculateNarAsync(pathInfo.Node);
        Assert.That(nar.NarSize, Is.EqualTo(local.NarSize));
        Assert.That(nar.NarSha256, Is.EqualTo(local.NarSha256));
        var broken = Samples.PathInfo();
        broken.References.Add(ByteString.CopyFrom(new byte[3]));
        await Assert.ThrowsAsync<StoreValidationException>(async () => await _client.PathInfos.PutAsync(broken));
    }
}

/// <summary>A daemon whose store is another daemon (the upstream is a grpc+ address).</summary>
public sealed class UpstreamDaemonTests
{
    [Test]
    public async Task ADaemonServesAnotherDaemonsStore()
    {
        await using var upstream = await TestDaemon.StartAsync(Transport.Unix);
        using var connector = new GrpcStoreConnector(new GrpcClientOptions());
        var upstreamStore = new StoreOpener(connector).Open(StoreAddress.Parse(upstream.Address));
        await using var front = await TestDaemon.StartAsync(Transport.Tcp, upstreamStore);
        await using var client = new StoreOpener(connector).Open(StoreAddress.Parse(front.Address));

        byte[] bytes = Samples.Bytes(600_000, 12);
        B3Digest digest;
        await using (var writer = client.Blobs.OpenWrite())
        {
            await writer.WriteAsync(bytes);
            digest = await writer.CloseAsync();
        }
        var (root, leavesFirst) = Samples.Graph();
        await using (var putter = client.Directories.BeginPut())
        {
            foreach (var d in leavesFirst)
                await putter.PutAsync(d);
            await putter.CloseAsync();
        }
        await client.PathInfos.PutAsync(Samples.PathInfo());

        Assert.That(await upstream.Store.Blobs.StatAsync(digest), Is.EqualTo(bytes.Length), "stored upstream");
        Assert.That((await upstream.Store.Directories.GetAsync(DirectoryRules.Digest(root)))?.Message, Is.EqualTo(root));
        using var reader = await client.Blobs.OpenReadAsync(digest);
        var back = new byte[bytes.Length];
        Assert.That(await reader!.ReadAtAsync(0, back), Is.EqualTo(bytes.Length));
        Assert.That(back, Is.EqualTo(bytes));
        Assert.That(await client.PathInfos.GetAsync(StorePathHash.FromBytes(Samples.StorePathHashBytes)), Is.EqualTo(Samples.PathInfo()));
    }
}
