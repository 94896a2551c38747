using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Store.Local;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.TestSupport;
using StorePath = TvixLowFs.Store.Model.StorePath;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Issue 14 point 7 on the embedded store: a PathInfo file that holds another store path's (valid)
/// PathInfo is that path absent (ENOENT through a mount), as over gRPC, not a store failure (EIO).
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class ForeignLocalPathInfoTests
{
    [Test]
    public async Task APathInfoFileHoldingAnotherStorePathIsAbsent()
    {
        await using TemporaryLocalStore local = TemporaryLocalStore.Create("foreign-pathinfo");
        var writer = new TestTreeWriter(local.Store);
        string healthy = await writer.AddStorePathAsync("healthy", FileSpec.Text("healthy\n"));
        string misplaced = await writer.AddStorePathAsync("misplaced", FileSpec.Text("to be overwritten\n"));
        LocalStore files = LocalStore.Open(local.Directory);
        File.Copy(files.PathInfoPath(StorePath.ParseBasename(healthy).Hash), files.PathInfoPath(StorePath.ParseBasename(misplaced).Hash), overwrite: true);

        Assert.That(await local.Store.PathInfos.GetAsync(StorePath.ParseBasename(misplaced).Hash), Is.Null);
        Assert.That(await local.Store.PathInfos.GetAsync(StorePath.ParseBasename(healthy).Hash), Is.Not.Null);
        using var mount = new InProcessMount(local.Store, new StoreFilesystemOptions());
        int misplacedLookup = BoundedCall.Run(() => Libc.LStat(mount.PathOf(misplaced), out _), "lookup of the misplaced path");
        int healthyLookup = BoundedCall.Run(() => Libc.LStat(mount.PathOf(healthy), out _), "lookup of the healthy path");
        Assert.Multiple(() =>
        {
            Assert.That(misplacedLookup, Is.EqualTo(Libc.ENOENT), "the path whose file holds another's PathInfo");
            Assert.That(healthyLookup, Is.Zero, "the healthy path");
        });
    }
}
