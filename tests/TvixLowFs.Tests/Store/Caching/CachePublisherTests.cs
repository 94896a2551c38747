using NUnit.Framework;
using TvixLowFs.Store.Caching;
using TvixLowFs.Store.Local;

namespace TvixLowFs.Tests.Grpc;

/// <summary>The read-through cache's background naming of verified objects, on a real local store.</summary>
public sealed class CachePublisherTests
{
    private string _root = null!;

    [SetUp]
    public void CreateRoot() => _root = Path.Combine(Path.GetTempPath(), "tvixlowfs-publisher-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void RemoveRoot()
    {
        if (System.IO.Directory.Exists(_root))
            System.IO.Directory.Delete(_root, recursive: true);
    }

    private static string Temp(LocalStore store, string content)
    {
        (string path, var handle) = store.CreateTempFile("object");
        using (handle)
            RandomAccess.Write(handle, System.Text.Encoding.UTF8.GetBytes(content), 0);
        return path;
    }

    [Test]
    public async Task ObjectsAreNamedInOrderAndNoneOfAChainAfterOneThatFailed()
    {
        var store = LocalStore.Open(_root);
        string good = Path.Combine(store.DirectoriesDirectory, "aa");
        // A file where a shard directory belongs: naming anything into it fails.
        string blocked = Path.Combine(store.DirectoriesDirectory, "bb");
        File.WriteAllText(blocked, "not a directory");
        var outcomes = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>();
        var chain = new PublishChain();

        await using (var publisher = new CachePublisher(store))
        {
            foreach ((string name, string shard, PublishChain? inChain) in new[]
            {
                ("child", good, chain), ("middle", blocked, chain), ("parent", good, chain), ("unrelated", good, null),
            })
            {
                string finalPath = Path.Combine(shard, name);
                Assert.That(publisher.TryAdd(Temp(store, name), finalPath, renamed => outcomes[name] = renamed, inChain), Is.True);
            }
        }

        Assert.That(File.ReadAllText(Path.Combine(good, "child")), Is.EqualTo("child"));
        Assert.That(File.Exists(Path.Combine(good, "parent")), Is.False, "named after a failure in its chain");
        Assert.That(File.ReadAllText(Path.Combine(good, "unrelated")), Is.EqualTo("unrelated"), "another chain is not held back");
        Assert.That(outcomes, Is.EquivalentTo(new Dictionary<string, bool>
        {
            ["child"] = true, ["middle"] = false, ["parent"] = false, ["unrelated"] = true,
        }));
        Assert.That(System.IO.Directory.EnumerateFiles(store.TempDirectory), Is.Empty, "no leftover temp file");
    }

    [Test]
    public async Task ObjectsHandedOverTogetherAreNamedWhileThePublisherRuns()
    {
        var store = LocalStore.Open(_root);
        string shard = Path.Combine(store.BlobsDirectory, "cc");
        var named = new List<Task<bool>>();
        await using var publisher = new CachePublisher(store);
        // More than one batch's worth would also pass; a handful is what a tree walk hands over at a time.
        for (int i = 0; i < 5; i++)
        {
            var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            Assert.That(publisher.TryAdd(Temp(store, $"object {i}"), Path.Combine(shard, $"object-{i}"), done.SetResult), Is.True);
            named.Add(done.Task);
        }

        // Named by the running publisher (after its gathering window), not by disposal.
        Assert.That(await Task.WhenAll(named).WaitAsync(TimeSpan.FromSeconds(60)), Is.All.True);
        for (int i = 0; i < 5; i++)
            Assert.That(File.ReadAllText(Path.Combine(shard, $"object-{i}")), Is.EqualTo($"object {i}"));
        Assert.That(System.IO.Directory.EnumerateFiles(store.TempDirectory), Is.Empty, "no leftover temp file");
    }
}
