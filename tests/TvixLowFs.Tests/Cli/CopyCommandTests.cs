using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using StorePath = TvixLowFs.Store.Model.StorePath;
using TvixLowFs.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using static TvixLowFs.Tests.Store.TestTrees;
using TvixLowFs.Tests.Store;

namespace TvixLowFs.Tests.Cli;

/// <summary>
/// <c>tvixlowfs copy --from local://…</c> between two embedded stores: the closure comes across,
/// dependencies registered first, and every failure is named. (Copies from real Nix binary caches
/// are tested with real Nix in BinaryCache/.)
/// </summary>
public sealed class CopyCommandTests
{
    private string _work = null!;
    private string _source = null!, _destination = null!;
    private Dictionary<string, string> _environment = null!;

    [SetUp]
    public void SetUp()
    {
        _work = Path.Join(Path.GetTempPath(), "tvixlowfs-copy-" + Guid.NewGuid().ToString("N"));
        _source = Path.Join(_work, "source");
        _destination = Path.Join(_work, "destination");
        _environment = new Dictionary<string, string>
        {
            ["HOME"] = Path.Join(_work, "home"),
            ["XDG_CACHE_HOME"] = Path.Join(_work, "cache"),
            ["BLOB_SERVICE_ADDR"] = "local://" + _destination,
            ["DIRECTORY_SERVICE_ADDR"] = "local://" + _destination,
            ["PATH_INFO_SERVICE_ADDR"] = "local://" + _destination,
        };
    }

    [TearDown]
    public void TearDown()
    {
        if (System.IO.Directory.Exists(_work))
            System.IO.Directory.Delete(_work, recursive: true);
    }

    /// <summary>Puts a tree under a made-up store path with the given references; returns the store path.</summary>
    private static async Task<StorePath> AddAsync(StoreServices store, string name, TreeNode tree, params StorePath[] references)
    {
        StorePath storePath = NixStorePathBuilder.ForSource(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)), name);
        Node root = await UploadAsync(store, tree, storePath.Basename);
        NarHash nar = await store.PathInfos.CalculateNarAsync(root);
        var pathInfo = new PathInfo
        {
            Node = root,
            Narinfo = new NARInfo { NarSize = nar.NarSize, NarSha256 = ByteString.CopyFrom(nar.NarSha256) },
        };
        foreach (StorePath reference in references)
        {
            pathInfo.References.Add(ByteString.CopyFrom(reference.Hash.ToArray()));
            pathInfo.Narinfo.ReferenceNames.Add(reference.Basename);
        }
        await store.PathInfos.PutAsync(pathInfo);
        return storePath;
    }

    [Test, CancelAfter(60_000)]
    public async Task A_closure_is_copied_dependencies_first_and_then_mountable_data_is_all_there()
    {
        StorePath library, tool, unrelated;
        await using (StoreServices source = new StoreOpener().Open(StoreAddress.ForLocalDirectory(_source)))
        {
            library = await AddAsync(source, "library", TreeDirectory.Of(("lib", TreeDirectory.Of(("libx.so", new TreeFile(Pattern(300_000)))))));
            tool = await AddAsync(source, "tool", TreeDirectory.Of(
                ("bin", TreeDirectory.Of(("tool", TreeFile.Text("#!/bin/sh\n", executable: true)), ("link", new TreeSymlink("tool"))))), library);
            unrelated = await AddAsync(source, "unrelated", TreeFile.Text("not asked for\n"));
        }

        CliResult result = await CliRunner.RunAsync(_environment, "copy", "--from", "local://" + _source, tool.AbsolutePath);

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(result.OutLines, Is.EqualTo(new[] { library.AbsolutePath, tool.AbsolutePath }), "each path printed as it is registered, its dependency first");
        await using StoreServices destination = new StoreOpener().Open(StoreAddress.ForLocalDirectory(_destination));
        Assert.That(await destination.PathInfos.GetAsync(unrelated.Hash), Is.Null, "only the closure");
        PathInfo copied = (await destination.PathInfos.GetAsync(tool.Hash))!;
        Assert.That(copied.Narinfo.ReferenceNames, Is.EqualTo(new[] { library.Basename }));
        // Every byte is there: the NAR computed from the destination's own blobs and directories matches.
        NarHash nar = await destination.PathInfos.CalculateNarAsync(copied.Node);
        Assert.That(nar.NarSha256, Is.EqualTo(copied.Narinfo.NarSha256.ToByteArray()));
        NarHash libraryNar = await destination.PathInfos.CalculateNarAsync((await destination.PathInfos.GetAsync(library.Hash))!.Node);
        Assert.That(libraryNar.NarSize, Is.GreaterThan(300_000UL));

        CliResult again = await CliRunner.RunAsync(_environment, "copy", "--from", "local://" + _source, tool.Basename);
        Assert.That((again.ExitCode, again.Out), Is.EqualTo((0, "")), "nothing is copied twice");
    }

    [Test, CancelAfter(60_000)]
    public async Task A_missing_path_or_reference_fails_naming_every_path_and_registers_nothing_above_it()
    {
        StorePath missing = NixStorePathBuilder.ForSource(new byte[32], "missing");
        StorePath broken, fine;
        await using (StoreServices source = new StoreOpener().Open(StoreAddress.ForLocalDirectory(_source)))
        {
            broken = await AddAsync(source, "broken", TreeFile.Text("refers to a path the source lacks\n"), missing);
            fine = await AddAsync(source, "fine", TreeFile.Text("fine\n"));
        }

        CliResult result = await CliRunner.RunAsync(_environment, "copy", "--from", "local://" + _source,
            broken.AbsolutePath, fine.AbsolutePath, "/nix/store/" + missing.HashPart + "-other");

        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.OutLines, Is.EqualTo(new[] { fine.AbsolutePath }), "the good path is still copied");
        Assert.That(result.Error, Does.Contain(broken.AbsolutePath).And.Contain(missing.HashPart).And.Contain("not in the source"));
        await using StoreServices destination = new StoreOpener().Open(StoreAddress.ForLocalDirectory(_destination));
        Assert.That(await destination.PathInfos.GetAsync(broken.Hash), Is.Null, "a path whose closure is incomplete is not registered");
    }

    [TestCase("not-a-store-path")]
    [TestCase("/nix/store/short-name")]
    public async Task A_malformed_store_path_is_one_error(string path)
    {
        CliResult result = await CliRunner.RunAsync(_environment, "copy", "--from", "local://" + _source, path);
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Error.Trim(), Does.StartWith("tvixlowfs: ").And.Contain(path).And.Not.Contain("\n"));
    }
}
