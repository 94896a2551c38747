using TvixLowFs.Bench.E2e;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// What the nar-bridge comparisons (issue 13) read besides the caches: a chroot Nix store holding
/// the closure (what both sides of the push copy from), made by `nix copy --from` the zstd cache
/// with its signatures, and the closure as a compression=none file cache made from that store by
/// `nix copy --to file://…?compression=none&amp;secret-key=…` (the pull peer). Kept while the caches'
/// manifest and the root match.
/// </summary>
/// <param name="PushSource">The chroot store (`--store DIR`) holding the closure.</param>
internal sealed record NarBridgeFixtures(string PushSource, BinaryCacheDirectory ClosureNone)
{
    public static NarBridgeFixtures Ensure(BinaryCacheFixtures caches, string profile)
    {
        var source = Path.Combine(profile, "nar-bridge-source");
        var none = Path.Combine(profile, "caches", "closure-none");
        var manifestPath = Path.Combine(profile, "nar-bridge.manifest");
        var expected = $"root={caches.RootPath}\nkey={caches.PublicKey}\n";
        if (File.Exists(manifestPath) && File.ReadAllText(manifestPath) == expected && Directory.Exists(source) && Directory.Exists(none))
        {
            Log($"reusing the nar-bridge push source {source} and the compression=none closure cache");
            return new NarBridgeFixtures(source, BinaryCacheDirectory.Load("closure, none", none));
        }
        File.Delete(manifestPath);
        BinaryCacheFixtures.DeleteTree(source);
        BinaryCacheFixtures.DeleteTree(none);
        var nixCache = Path.Combine(profile, "nar-bridge-nix-cache-home");
        var secretKey = Path.Combine(profile, "cache-key.secret");
        if (!File.Exists(secretKey)) throw new BenchmarkFailure($"{secretKey} is missing: delete {Path.Combine(profile, "caches.manifest")} to make the caches again");
        string Nix(params string[] arguments) => RealNix.Run("nix", nixCache, arguments, TimeSpan.FromMinutes(60)).EnsureSuccess().StandardOutput;
        Log($"making the nar-bridge push source {source} from the zstd cache");
        using (var zstd = StaticHttpServer.Start(caches.Zstd.Directory))
        {
            Nix("--option", "trusted-public-keys", caches.PublicKey, "--option", "require-sigs", "true", "copy", "--from", zstd.BaseUrl, "--to", source, caches.RootPath);
        }
        Log("making the compression=none closure cache from it");
        Nix("copy", "--store", source, "--to", $"file://{none}?compression=none&secret-key={secretKey}", caches.RootPath);
        BinaryCacheFixtures.DeleteTree(nixCache);
        var fixtures = new NarBridgeFixtures(source, BinaryCacheDirectory.Load("closure, none", none));
        if (fixtures.ClosureNone.Paths.Count != caches.Zstd.Paths.Count)
            throw new BenchmarkFailure($"the compression=none closure cache holds {fixtures.ClosureNone.Paths.Count} paths, not {caches.Zstd.Paths.Count}");
        File.WriteAllText(manifestPath, expected);
        return fixtures;
    }

    private static void Log(string message) => BinaryCacheBenchmark.Log(message);
}
