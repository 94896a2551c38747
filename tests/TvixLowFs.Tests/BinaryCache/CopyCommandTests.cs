using NUnit.Framework;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Tests.Mount;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// <c>tvixlowfs copy --from nix+http://… STOREPATH</c> as a runner warms a closure: each path of
/// the closure is printed as it is registered, the local store then mounts it with no network
/// (the server stopped) byte for byte, <c>verify</c> passes, the PathInfos keep what the narinfos
/// said (references, reference names, NarHash and NarSize, signatures, deriver, CA), a second copy
/// asks the cache for nothing, and an absent path fails naming it.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class CopyCommandTests : BinaryCacheMountTestBase
{
    private (int ExitCode, string[] Out, string[] Error) Copy(StaticHttpServer server, string store, string cache, params string[] paths) =>
        TvixlowfsProcess.Run(["copy", "--from", NixBinaryCacheFixture.NixHttpAddress(server, Nix.PublicKey), .. paths,
            .. LocalStoreFlags(store), "--cache-dir", cache], timeoutSeconds: 180);

    private static string Describe((int ExitCode, string[] Out, string[] Error) run) =>
        $"exit {run.ExitCode}\nstdout:\n{string.Join('\n', run.Out)}\nstderr:\n{string.Join('\n', run.Error)}";

    [Test]
    [CancelAfter(300_000)]
    public void CopyRegistersTheClosureAndTheMountServesItWithNoNetwork()
    {
        StaticHttpServer server = Serve(Nix.Caches["xz"]);
        string store = NewDirectory("store2"), cache = NewDirectory("cache");
        var copy = Copy(server, store, cache, "/nix/store/" + Nix.OutputBasename);
        Assert.That(copy.ExitCode, Is.Zero, Describe(copy));
        foreach (string basename in new[] { Nix.TreeBasename, Nix.OutputBasename })
            Assert.That(copy.Out.Count(line => line.Contains("/nix/store/" + basename, StringComparison.Ordinal)), Is.EqualTo(1),
                $"{basename} printed once as it is registered:\n" + Describe(copy));
        Assert.That(copy.Out.Any(line => line.Contains(Nix.SingleFileBasename, StringComparison.Ordinal)), Is.False, "not in the closure");

        server.Stop();
        var mount = MountWith([.. LocalStoreFlags(store), "--cache-dir", NewDirectory("cache")]);
        Bounded("reading the copied closure", 120, () =>
        {
            foreach (string basename in new[] { Nix.TreeBasename, Nix.OutputBasename })
            {
                MountedStorePath.AssertEqualToNix(Nix.OnDisk(basename), Path.Combine(mount.MountPoint, basename));
                MountedStorePath.AssertStoreTimes(Path.Combine(mount.MountPoint, basename));
            }
        });
        Unmount(mount);

        var verify = TvixlowfsProcess.Run(["verify", .. LocalStoreFlags(store), "--cache-dir", cache]);
        Assert.That(verify.ExitCode, Is.Zero, Describe(verify));
        Assert.That(verify.Out, Is.Empty, Describe(verify));
    }

    [Test]
    [CancelAfter(300_000)]
    public void ThePathInfosKeepWhatTheNarInfosSaid()
    {
        StaticHttpServer server = Serve(Nix.Caches["zstd"]);
        string store = NewDirectory("store2");
        var copy = Copy(server, store, NewDirectory("cache"), "/nix/store/" + Nix.OutputBasename, "/nix/store/" + Nix.SingleFileBasename);
        Assert.That(copy.ExitCode, Is.Zero, Describe(copy));

        foreach (string basename in Nix.AllBasenames)
        {
            NarInfoLines narInfo = Nix.NarInfo("zstd", basename);
            string file = Path.Combine(store, "pathinfos", NixBinaryCacheFixture.HashOf(basename));
            Assert.That(File.Exists(file), Is.True, "the local store holds the PathInfo of " + basename);
            PathInfo pathInfo = PathInfo.Parser.ParseFrom(File.ReadAllBytes(file));
            Assert.That(NodeName(pathInfo), Is.EqualTo(basename));
            Assert.That(pathInfo.References.Select(r => NixBase32.Encode(r.Span)), Is.EqualTo(narInfo.References.Select(NixBinaryCacheFixture.HashOf)));
            Assert.That(pathInfo.Narinfo.ReferenceNames, Is.EqualTo(narInfo.References));
            Assert.That(pathInfo.Narinfo.NarSize, Is.EqualTo((ulong)narInfo.NarSize));
            Assert.That(NixBase32.Encode(pathInfo.Narinfo.NarSha256.Span), Is.EqualTo(narInfo.NarHashBase32));
            string[] sig = narInfo.All("Sig").Single().Split(':', 2);
            Assert.That(pathInfo.Narinfo.Signatures.Select(s => (s.Name, s.Data.ToBase64())), Is.EqualTo(new[] { (sig[0], sig[1]) }));
            if (basename == Nix.OutputBasename)
            {
                Assert.That(pathInfo.Narinfo.Deriver, Is.Not.Null);
                Assert.That(pathInfo.Narinfo.Deriver.Name, Is.EqualTo(Nix.DeriverBasename[33..]));
                Assert.That(NixBase32.Encode(pathInfo.Narinfo.Deriver.Digest.Span), Is.EqualTo(NixBinaryCacheFixture.HashOf(Nix.DeriverBasename)));
                Assert.That(pathInfo.Narinfo.Ca, Is.Null, "input-addressed");
            }
            else
            {
                Assert.That(pathInfo.Narinfo.Ca, Is.Not.Null, "content-addressed");
                Assert.That(pathInfo.Narinfo.Ca.Type, Is.EqualTo(NARInfo.Types.CA.Types.Hash.NarSha256));
                Assert.That(NixBase32.Encode(pathInfo.Narinfo.Ca.Digest.Span), Is.EqualTo(narInfo.NarHashBase32), "fixed:r:sha256 of the NAR");
            }
        }
    }

    private static string NodeName(PathInfo pathInfo) => pathInfo.Node.NodeCase switch
    {
        TvixLowFs.Protos.Castore.Node.NodeOneofCase.Directory => pathInfo.Node.Directory.Name.ToStringUtf8(),
        TvixLowFs.Protos.Castore.Node.NodeOneofCase.File => pathInfo.Node.File.Name.ToStringUtf8(),
        TvixLowFs.Protos.Castore.Node.NodeOneofCase.Symlink => pathInfo.Node.Symlink.Name.ToStringUtf8(),
        _ => "(no node)",
    };

    [Test]
    [CancelAfter(300_000)]
    public void ASecondCopyOfTheSamePathAsksTheCacheForNothing()
    {
        StaticHttpServer server = Serve(Nix.Caches["bzip2"]);
        string store = NewDirectory("store2"), cache = NewDirectory("cache");
        var first = Copy(server, store, cache, Nix.OutputBasename); // a basename works as well as an absolute path
        Assert.That(first.ExitCode, Is.Zero, Describe(first));
        int requests = server.RequestCount;
        var second = Copy(server, store, cache, Nix.OutputBasename);
        Assert.That(second.ExitCode, Is.Zero, Describe(second));
        Assert.That(server.RequestCount, Is.EqualTo(requests), "no request for what the store holds:\n" + server.Log);
    }

    [Test]
    [CancelAfter(300_000)]
    public void CopyOfAPathTheCacheDoesNotHaveFailsNamingIt()
    {
        StaticHttpServer server = Serve(Nix.Caches["xz"]);
        string store = NewDirectory("store2");
        const string absent = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-not-in-the-cache";
        var copy = Copy(server, store, NewDirectory("cache"), absent, "/nix/store/" + Nix.SingleFileBasename);
        Assert.That(copy.ExitCode, Is.Not.Zero, Describe(copy));
        Assert.That(string.Join('\n', copy.Error), Does.Contain("0123456789abcdfghijklmnpqrsvwxyz-not-in-the-cache"), Describe(copy));
        Assert.That(copy.Out.Any(line => line.Contains(Nix.SingleFileBasename, StringComparison.Ordinal)), Is.True,
            "the path the cache has is still copied:\n" + Describe(copy));
        Assert.That(File.Exists(Path.Combine(store, "pathinfos", NixBinaryCacheFixture.HashOf(absent["/nix/store/".Length..]))), Is.False);
    }
}
