using NUnit.Framework;
using Grpc.Core;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Grpc.Server;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Issue 14 point 10: CalculateNAR of an exponentially shared graph, D_k = {a→D_k-1, b→D_k-1} with
/// k = 60 (61 directories stored, 2^60 entries rendered), stops at the entry limit with
/// RESOURCE_EXHAUSTED naming it, and a cancelled calculation stops instead of spinning on.
/// </summary>
[CancelAfter(120_000)]
public sealed class NarCalculationLimitsTests
{
    private const int Depth = 60;

    /// <summary>Puts D_0..D_k into the store and returns the node of each, by depth.</summary>
    private static async Task<Node[]> PutSharedGraphAsync(StoreServices store)
    {
        byte[] leaf = [1, 2, 3];
        await using (var writer = store.Blobs.OpenWrite())
        {
            await writer.WriteAsync(leaf);
            await writer.CloseAsync();
        }
        var nodes = new Node[Depth + 1];
        var directory = new Directory { Files = { Samples.File("f", leaf) } };
        await store.Directories.PutAsync(directory);
        nodes[0] = new Node { Directory = Samples.Child("", directory) };
        for (int k = 1; k <= Depth; k++)
        {
            directory = new Directory { Directories = { Samples.Child("a", directory), Samples.Child("b", directory) } };
            await store.Directories.PutAsync(directory);
            nodes[k] = new Node { Directory = Samples.Child("", directory) };
        }
        return nodes;
    }

    [Test]
    public async Task ASharedGraphPastMaxNarEntriesIsResourceExhaustedOverTheDaemon()
    {
        var store = new StoreOpener().Open(StoreAddress.Memory);
        Node[] nodes = await PutSharedGraphAsync(store);
        await using var daemon = await TestDaemon.StartAsync(Transport.Tcp, store,
            options: new DaemonOptions { Limits = new DaemonLimits { MaxNarEntries = 100_000 } });
        using var channel = daemon.OpenPlainChannel();
        var client = new PathInfoService.PathInfoServiceClient(channel);

        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.CalculateNARAsync(nodes[Depth], new CallOptions(deadline: DateTime.UtcNow.AddSeconds(60))));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted), e.Status.Detail);
        Assert.That(e.Status.Detail, Does.Contain("max-nar-entries").And.Contain("100000"));

        // A graph within the limit is still calculated (D_10: 2^10 leaves), as the model renders it.
        var nar = await client.CalculateNARAsync(nodes[10], new CallOptions(deadline: DateTime.UtcNow.AddSeconds(60)));
        NarHash expected = await new NarCalculator(store.Blobs, store.Directories).CalculateAsync(nodes[10]);
        Assert.That(nar.NarSize, Is.EqualTo(expected.NarSize));
        Assert.That(nar.NarSha256.ToByteArray(), Is.EqualTo(expected.NarSha256));
    }

    [Test]
    public async Task ACancelledCalculationStops()
    {
        await using var store = new StoreOpener().Open(StoreAddress.Memory);
        Node root = (await PutSharedGraphAsync(store))[Depth];
        var calculator = new NarCalculator(store.Blobs, store.Directories, maxEntries: long.MaxValue);
        using var cancel = new CancellationTokenSource();
        // Everything here completes synchronously, so the walk runs on the thread that starts it.
        Task<NarHash> running = Task.Run(async () => await calculator.CalculateAsync(root, cancel.Token));
        await Task.Delay(200);
        Assert.That(running.IsCompleted, Is.False, "the walk of 2^60 entries is still going");
        cancel.Cancel();
        Task finished = await Task.WhenAny(running, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.That(finished, Is.SameAs(running), "the walk did not stop within 60 s of its cancellation");
        await Assert.CatchAsync<OperationCanceledException>(async () => await running);
    }

    [Test]
    public async Task AClientThatGoesAwayCancelsItsCalculationInTheDaemon()
    {
        // No entry limit that would end the walk: only the call's end can. The daemon hands the
        // call's cancellation to the calculator (which stops when cancelled, as the test above
        // shows): the token its recursive get was given is cancelled once the client is gone.
        var memory = new StoreOpener().Open(StoreAddress.Memory);
        var directories = new TokenRecordingDirectoryService(memory.Directories);
        var store = new StoreServices(memory.Blobs, directories, memory.PathInfos);
        Node root = (await PutSharedGraphAsync(store))[Depth];
        await using var daemon = await TestDaemon.StartAsync(Transport.Tcp, store,
            options: new DaemonOptions { Limits = new DaemonLimits { MaxNarEntries = long.MaxValue / 2 } });
        using var channel = daemon.OpenPlainChannel();
        var client = new PathInfoService.PathInfoServiceClient(channel);

        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.CalculateNARAsync(root, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(2))));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.DeadlineExceeded));
        Assert.That(directories.LastRecursiveToken, Is.Not.Null, "the daemon started the calculation");
        CancellationToken calculation = directories.LastRecursiveToken!.Value;
        for (int i = 0; i < 100 && !calculation.IsCancellationRequested; i++)
            await Task.Delay(100);
        Assert.That(calculation.IsCancellationRequested, Is.True, "the daemon's calculation was cancelled when its client went away");
    }
}
