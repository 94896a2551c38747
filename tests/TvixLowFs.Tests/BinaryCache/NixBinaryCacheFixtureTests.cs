using System.Net;
using System.Net.Sockets;
using NUnit.Framework;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// The fixture itself, with no tvixlowfs involved: the caches are what real Nix writes (every
/// compression, signed, closure complete), the static server serves them so that real Nix
/// substitutes from it (and refuses them under a key that did not sign), its request log counts
/// what was asked, and each hostile cache is refused by real Nix too (except the oversized
/// narinfo: Nix has no cap). These pass before any binary-cache code exists.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class NixBinaryCacheFixtureTests : BinaryCacheMountTestBase
{
    private static IEnumerable<string> Compressions => NixBinaryCacheFixture.Compressions;

    private static IEnumerable<string> HostileCases => HostileNixCache.Names;

    private static string Extension(string compression) => compression switch
    {
        "none" or "gzip" => ".nar", // Nix 2.8 names a gzip NAR .nar too
        "xz" => ".nar.xz",
        "zstd" => ".nar.zst",
        "bzip2" => ".nar.bz2",
        "br" => ".nar.br",
        _ => throw new ArgumentOutOfRangeException(nameof(compression)),
    };

    [Test]
    public void TheChrootStoreHoldsTheTreeTheSingleFileAndTheOutputWithItsReference()
    {
        string tree = Nix.OnDisk(Nix.TreeBasename);
        Assert.That(File.GetUnixFileMode(Path.Combine(tree, "bin", "tool")) & UnixFileMode.OtherExecute, Is.Not.Zero, "an executable");
        Assert.That(new FileInfo(Path.Combine(tree, "bin", "tool-link")).LinkTarget, Is.EqualTo("tool"));
        Assert.That(new FileInfo(Path.Combine(tree, "share", "empty-file")).Length, Is.Zero);
        Assert.That(Directory.EnumerateFileSystemEntries(Path.Combine(tree, "empty-dir")), Is.Empty);
        Assert.That(new FileInfo(Path.Combine(tree, "share", "big.bin")).Length, Is.EqualTo(NixBinaryCacheFixture.BigFileLength));
        Assert.That(File.ReadAllBytes(Nix.OnDisk(Nix.SingleFileBasename)), Is.EqualTo(NixBinaryCacheFixture.SingleFileContent.ToArray()));

        string output = Nix.OnDisk(Nix.OutputBasename);
        Assert.That(File.ReadAllText(Path.Combine(output, "dep")), Is.EqualTo("/nix/store/" + Nix.TreeBasename + "\n"));
        Assert.That(new FileInfo(Path.Combine(output, "readme-link")).LinkTarget, Is.EqualTo("/nix/store/" + Nix.TreeBasename + "/README"));
        string closure = Nix.RealNix.Check("nix-store", "--store", Nix.ChrootStore, "--query", "--requisites", "/nix/store/" + Nix.OutputBasename);
        Assert.That(closure.Split('\n', StringSplitOptions.RemoveEmptyEntries),
            Is.EquivalentTo(new[] { "/nix/store/" + Nix.TreeBasename, "/nix/store/" + Nix.OutputBasename }));
        Assert.That(Nix.DeriverBasename, Does.EndWith("-tvixlowfs-with-reference.drv"));
    }

    [TestCaseSource(nameof(Compressions))]
    public void EachCacheHoldsEveryPathSignedInItsCompression(string compression)
    {
        string cache = Nix.Caches[compression];
        Assert.That(File.ReadAllText(Path.Combine(cache, "nix-cache-info")), Does.Contain("StoreDir: /nix/store"));
        foreach (string basename in Nix.AllBasenames)
        {
            NarInfoLines narInfo = Nix.NarInfo(compression, basename);
            Assert.That(narInfo["StorePath"], Is.EqualTo("/nix/store/" + basename));
            Assert.That(narInfo["Compression"], Is.EqualTo(compression));
            Assert.That(narInfo["URL"], Does.StartWith("nar/").And.EndWith(Extension(compression)));
            var nar = new FileInfo(Path.Combine(cache, narInfo["URL"]));
            Assert.That(nar.Length, Is.EqualTo(long.Parse(narInfo["FileSize"], System.Globalization.CultureInfo.InvariantCulture)));
            Assert.That(narInfo["FileHash"], Is.EqualTo("sha256:" + Nix.FileHashBase32(nar.FullName)));
            if (compression == "none")
                Assert.That(narInfo["FileHash"], Is.EqualTo(narInfo["NarHash"]));
            string narHash = Nix.RealNix.Check("nix-hash", "--type", "sha256", "--base32", Nix.OnDisk(basename)).Trim();
            Assert.That(narInfo.NarHashBase32, Is.EqualTo(narHash), "NarHash of " + basename);
            Assert.That(narInfo.All("Sig"), Has.Count.EqualTo(1));
            Assert.That(narInfo.All("Sig")[0], Does.StartWith(NixBinaryCacheFixture.KeyName + ":"));
            if (basename == Nix.OutputBasename)
            {
                Assert.That(narInfo.References, Is.EqualTo(new[] { Nix.TreeBasename }));
                Assert.That(narInfo["Deriver"], Is.EqualTo(Nix.DeriverBasename));
                Assert.That(narInfo.All("CA"), Is.Empty, "input-addressed");
            }
            else
            {
                Assert.That(narInfo.References, Is.Empty);
                Assert.That(narInfo["CA"], Is.EqualTo("fixed:r:" + narInfo["NarHash"]), "content-addressed");
            }
        }
        // Real Nix reads every NAR back (decompressing, hashing) and checks the signatures: with
        // the signing key every path is trusted, with another the input-addressed one is not.
        string[] paths = [.. Nix.AllBasenames.Select(b => "/nix/store/" + b)];
        ChildProcess.Result verify = Nix.RealNix.Run("nix", ["store", "verify", "--store", "file://" + cache,
            "--trusted-public-keys", Nix.PublicKey, "--sigs-needed", "1", .. paths]);
        Assert.That(verify.ExitCode, Is.Zero, verify.ToString());
        ChildProcess.Result untrusted = Nix.RealNix.Run("nix", ["store", "verify", "--store", "file://" + cache,
            "--trusted-public-keys", Nix.UntrustedPublicKey, "--sigs-needed", "1", .. paths]);
        Assert.That(untrusted.ExitCode, Is.Not.Zero, untrusted.ToString());
        Assert.That(untrusted.Error, Does.Contain($"path '/nix/store/{Nix.OutputBasename}' is untrusted"));
        Assert.That(untrusted.Error, Does.Not.Contain($"path '/nix/store/{Nix.TreeBasename}' is untrusted"), "CA paths need no signature");
    }

    [TestCaseSource(nameof(Compressions))]
    public void RealNixSubstitutesFromTheServedCache(string compression)
    {
        StaticHttpServer server = Serve(Nix.Caches[compression]);
        ChildProcess.Result result = Nix.SubstituteWithNix(server, Nix.PublicKey, out string other, [Nix.OutputBasename, Nix.SingleFileBasename]);
        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        foreach (string basename in Nix.AllBasenames)
        {
            Assert.That(server.CountOf("/" + NixBinaryCacheFixture.HashOf(basename) + ".narinfo"), Is.GreaterThanOrEqualTo(1), server.Log);
            Assert.That(server.CountOf("/" + Nix.NarInfo(compression, basename)["URL"]), Is.EqualTo(1), server.Log);
            string narHash = Nix.RealNix.Check("nix-hash", "--type", "sha256", "--base32", Path.Combine(other, "nix", "store", basename)).Trim();
            Assert.That(narHash, Is.EqualTo(Nix.NarInfo(compression, basename).NarHashBase32), basename);
        }
        Assert.That(Nix.RealNix.Check("nix-store", "--store", other, "--query", "--deriver", "/nix/store/" + Nix.OutputBasename).Trim(),
            Is.EqualTo("/nix/store/" + Nix.DeriverBasename));
        ChildProcess.Result verify = Nix.RealNix.Run("nix-store", "--store", other, "--verify", "--check-contents");
        Assert.That(verify.ExitCode, Is.Zero, verify.ToString());
    }

    [Test]
    public void RealNixRefusesTheInputAddressedPathUnderAKeyThatDidNotSign()
    {
        StaticHttpServer server = Serve(Nix.Caches["xz"]);
        ChildProcess.Result result = Nix.SubstituteWithNix(server, Nix.UntrustedPublicKey, out string other, [Nix.OutputBasename]);
        Assert.That(result.ExitCode, Is.Not.Zero, result.ToString());
        Assert.That(result.Error, Does.Contain("/nix/store/" + Nix.OutputBasename).And.Contain("lacks a valid signature"));
        // Nix's rule for content-addressed paths: no signature needed, so the dependency arrived.
        Assert.That(Directory.Exists(Path.Combine(other, "nix", "store", Nix.TreeBasename)), Is.True, result.ToString());
    }

    [Test]
    public async Task TheServerLogsEveryRequestAndStopsListening()
    {
        StaticHttpServer server = Serve(Nix.Caches["xz"]);
        Assert.That(server.RequestCount, Is.Zero, "starting makes no request");
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        string narInfoPath = "/" + NixBinaryCacheFixture.HashOf(Nix.TreeBasename) + ".narinfo";
        Assert.That(await client.GetStringAsync(server.BaseUrl + narInfoPath),
            Is.EqualTo(await File.ReadAllTextAsync(NixBinaryCacheFixture.NarInfoFile(Nix.Caches["xz"], Nix.TreeBasename))));
        using HttpResponseMessage missing = await client.GetAsync(server.BaseUrl + "/00000000000000000000000000000000.narinfo");
        Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        // python logs a request once it answered it; the client has its answers, so the lines are on their way.
        for (int i = 0; i < 100 && server.RequestCount < 2; i++)
            await Task.Delay(50);
        Assert.That(server.Requests, Is.EqualTo(new[]
        {
            new StaticHttpServer.Request("GET", narInfoPath, 200),
            new StaticHttpServer.Request("GET", "/00000000000000000000000000000000.narinfo", 404),
        }));
        Assert.That(server.RequestedPaths, Is.EqualTo(new[] { narInfoPath, "/00000000000000000000000000000000.narinfo" }));
        server.Stop();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.That(() => socket.Connect(IPAddress.Loopback, server.Port), Throws.InstanceOf<SocketException>(), "stopped means refused");
    }

    [Test]
    public void TheAddressEscapesWhatAQueryCannotCarry()
    {
        StaticHttpServer server = Serve(Nix.Caches["xz"]);
        string address = NixBinaryCacheFixture.NixHttpAddress(server, "a:x+y/z=", "b:0");
        Assert.That(address, Is.EqualTo($"nix+http://127.0.0.1:{server.Port}?trusted-public-keys=a:x%2By/z=%20b:0"));
        Assert.That(NixBinaryCacheFixture.NixHttpAddress(server), Is.EqualTo($"nix+http://127.0.0.1:{server.Port}"));
    }

    [TestCaseSource(nameof(HostileCases))]
    public void EachHostileCacheChangesOnlyItsTargetAndRealNixRefusesIt(string name)
    {
        HostileNixCache hostile = HostileNixCache.Named(name);
        string cache = hostile.Make(Nix);
        string target = hostile.Target(Nix);
        string original = Nix.Caches[hostile.Compression];
        foreach (string file in Directory.EnumerateFiles(original, "*", SearchOption.AllDirectories))
        {
            string copy = Path.Combine(cache, Path.GetRelativePath(original, file));
            bool targets = file == NixBinaryCacheFixture.NarInfoFile(original, target) || file == NixBinaryCacheFixture.NarFile(original, target);
            if (!targets)
                Assert.That(File.ReadAllBytes(copy), Is.EqualTo(File.ReadAllBytes(file)), "untouched: " + file);
        }
        StaticHttpServer server = Serve(cache);
        switch (hostile.RealNix)
        {
            case NixVerdict.Hangs:
                Assert.That(() => Nix.SubstituteWithNix(server, Nix.PublicKey, out _, [target], timeoutSeconds: 20),
                    Throws.InstanceOf<TimeoutException>(), "real Nix 2.8 hangs on it");
                break;
            case NixVerdict.Accepts:
                ChildProcess.Result accepted = Nix.SubstituteWithNix(server, Nix.PublicKey, out _, [target]);
                Assert.That(accepted.ExitCode, Is.Zero, "real Nix accepts it (it has no narinfo size cap):\n" + accepted);
                break;
            default:
                ChildProcess.Result refused = Nix.SubstituteWithNix(server, Nix.PublicKey, out _, [target]);
                Assert.That(refused.ExitCode, Is.Not.Zero, "real Nix refuses it:\n" + refused);
                break;
        }
        ChildProcess.Result single = Nix.SubstituteWithNix(server, Nix.PublicKey, out _, [Nix.SingleFileBasename]);
        Assert.That(single.ExitCode, Is.Zero, "the rest of the cache is valid:\n" + single);
    }
}
