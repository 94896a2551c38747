using NUnit.Framework;
using TvixLowFs.NarBridge;
using TvixLowFs.Store;
using TvixLowFs.Store.Model.BinaryCache;
using TvixLowFs.Tests.BinaryCache;

namespace TvixLowFs.Tests.NarBridge;

/// <summary>
/// Real Nix 2.8 against nar-bridge over a local store, both ways: <c>nix copy --to http://…</c>
/// (none, xz, zstd) of a closure with references, then <c>nix path-info</c>, <c>nix copy --from</c>
/// with only the bridge's key trusted and require-sigs on, <c>nix-store --verify --check-contents</c>,
/// <c>nix-store -r</c> with the bridge as substituter, and a mount of the same store whose paths
/// <c>nix-hash</c> to their NarHash.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class NixNarBridgeTests : BinaryCacheMountTestBase
{
    private const string BridgeKeyName = "nar-bridge-test-1";

    private string _bridgeSecretKeyFile = null!;
    private string _bridgePublicKey = null!;
    private int _stores;

    [OneTimeSetUp]
    public void GenerateTheBridgeKey()
    {
        _bridgeSecretKeyFile = Path.Combine(Nix.Root, "keys", "nar-bridge-secret");
        Nix.RealNix.Check("nix-store", "--generate-binary-cache-key", BridgeKeyName, _bridgeSecretKeyFile, _bridgeSecretKeyFile + ".pub");
        _bridgePublicKey = File.ReadAllText(_bridgeSecretKeyFile + ".pub").Trim();
    }

    private string[] Closure => [Nix.OutputBasename, Nix.TreeBasename, Nix.SingleFileBasename];

    /// <summary>A fresh chroot Nix store (under the fixture's root, which makes it removable when done).</summary>
    private string NewNixStore() => Path.Combine(Nix.Root, $"substituted-narbridge-{Interlocked.Increment(ref _stores)}");

    private async Task<InProcessNarBridge> StartBridgeAsync(string store) =>
        await InProcessNarBridge.StartAsync(
            new NarBridgeOptions { Writable = true, SigningKey = NixSecretKey.Load(_bridgeSecretKeyFile) },
            new StoreOpener().Open(StoreAddress.ForLocalDirectory(store)));

    private void PushWithNix(InProcessNarBridge bridge, string compression) =>
        Nix.RealNix.Check(300, "nix", "copy", "--store", Nix.ChrootStore, "--to", $"{bridge.BaseUrl}?compression={compression}",
            "/nix/store/" + Nix.OutputBasename, "/nix/store/" + Nix.SingleFileBasename);

    [TestCase("none", ".nar")]
    [TestCase("xz", ".nar.xz")]
    [TestCase("zstd", ".nar.zst")]
    [CancelAfter(600_000)]
    public async Task NixCopiesToTheBridgeAndBackWithItsSignature(string compression, string extension)
    {
        string store = NewDirectory("store");
        await using var bridge = await StartBridgeAsync(store);
        PushWithNix(bridge, compression);
        Assert.That(bridge.Lines.Count(l => l.Message.StartsWith("PUT /nar/", StringComparison.Ordinal) && l.Message.Contains(extension + " -> 200 in ", StringComparison.Ordinal)),
            Is.EqualTo(3), "Nix uploaded three NARs with this compression:\n" + bridge.LogText);
        Assert.That(bridge.Warnings, Is.Empty, bridge.LogText);

        string listed = Nix.RealNix.Check("nix", "path-info", "--store", bridge.BaseUrl, "--recursive", "/nix/store/" + Nix.OutputBasename);
        Assert.That(listed.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EquivalentTo(new[] { "/nix/store/" + Nix.OutputBasename, "/nix/store/" + Nix.TreeBasename }));

        // Only the bridge's key is trusted: the input-addressed output (which Nix built unsigned)
        // is accepted because the bridge's signature verifies.
        string other = NewNixStore();
        Nix.RealNix.Check(300, "nix", "copy", "--from", bridge.BaseUrl, "--to", other, "--option", "trusted-public-keys", _bridgePublicKey,
            "--option", "require-sigs", "true", "/nix/store/" + Nix.OutputBasename, "/nix/store/" + Nix.SingleFileBasename);
        Nix.RealNix.Check(300, "nix-store", "--store", other, "--verify", "--check-contents");
        foreach (string basename in Closure)
        {
            Nix.RealNix.Check("nix", "path-info", "--store", other, "/nix/store/" + basename);
            MountedStorePath.AssertEqualToNix(Nix.OnDisk(basename), Path.Combine(other, "nix", "store", basename));
        }

        // Without the bridge's key the same copy is refused: require-sigs was really in force.
        var untrusted = Nix.RealNix.Run(300, "nix", "copy", "--from", bridge.BaseUrl, "--to", NewNixStore(), "--option", "trusted-public-keys", Nix.PublicKey,
            "--option", "require-sigs", "true", "/nix/store/" + Nix.OutputBasename);
        Assert.That(untrusted.ExitCode, Is.Not.Zero, untrusted.ToString());
        Assert.That(untrusted.Error, Does.Contain("lacks a valid signature"));

        // A mount of the same store shows the pushed paths, with the NarHash they were pushed with.
        (_, string mountPoint) = MountWith(LocalStoreFlags(store));
        foreach (string basename in Closure)
        {
            string mounted = Path.Combine(mountPoint, basename);
            Bounded("reading " + basename, 120, () => MountedStorePath.AssertEqualToNix(Nix.OnDisk(basename), mounted));
            string narHash = Nix.RealNix.Check("nix-hash", "--type", "sha256", "--base32", mounted).Trim();
            Assert.That(narHash, Is.EqualTo(Nix.NarInfo("none", basename).NarHashBase32), "nix-hash of the mounted " + basename);
        }
    }

    [Test]
    [CancelAfter(600_000)]
    public async Task NixStoreRealiseSubstitutesFromTheBridge()
    {
        string store = NewDirectory("store");
        await using var bridge = await StartBridgeAsync(store);
        PushWithNix(bridge, "zstd");
        string other = NewNixStore();
        // Not RealNix.Run: it would append "--option substituters ''" after ours.
        var realised = ChildProcess.Run("nix-store", ["--store", other, "--realise", "/nix/store/" + Nix.OutputBasename,
            "--option", "substituters", bridge.BaseUrl, "--option", "trusted-public-keys", _bridgePublicKey], Nix.RealNix.Environment(), 300);
        Assert.That(realised.ExitCode, Is.Zero, realised.ToString());
        Assert.That(realised.Out.Trim(), Is.EqualTo("/nix/store/" + Nix.OutputBasename));
        foreach (string basename in new[] { Nix.OutputBasename, Nix.TreeBasename })
            MountedStorePath.AssertEqualToNix(Nix.OnDisk(basename), Path.Combine(other, "nix", "store", basename));
        Assert.That(bridge.Lines.Any(l => l.Message.StartsWith("GET /nar/" + NixBinaryCacheFixture.HashOf(Nix.OutputBasename), StringComparison.Ordinal)),
            Is.True, "the output's NAR came from the bridge:\n" + bridge.LogText);
    }
}
