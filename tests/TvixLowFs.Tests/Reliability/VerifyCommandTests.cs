using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store;
using TvixLowFs.Store.Import;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Cli;
using TvixLowFs.Tests.Grpc;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Reliability;

/// <summary>
/// <c>tvixlowfs verify</c> over a local store imported from a real tree, then damaged on purpose
/// one way per test: each damaged or missing object is one stdout line naming it, the exit is
/// non-zero, and a clean store exits 0 with no line.
/// </summary>
[TestFixture]
public sealed class VerifyCommandTests
{
    private static readonly byte[] BigContent = Samples.Bytes(300_000, 11);

    private string _root = null!;
    private string _storeDirectory = null!;
    private LocalStore _store = null!;
    private StorePath _tree = null!;
    private StorePath _single = null!;
    private Dictionary<string, string> _environment = null!;

    [SetUp]
    public async Task ImportATree()
    {
        _root = Path.Combine(Path.GetTempPath(), "tvixlowfs-verify-" + Guid.NewGuid().ToString("N"));
        string source = Path.Combine(_root, "src");
        System.IO.Directory.CreateDirectory(Path.Combine(source, "lib", "deep"));
        System.IO.Directory.CreateDirectory(Path.Combine(source, "bin"));
        File.WriteAllText(Path.Combine(source, "README"), "readme\n");
        File.WriteAllText(Path.Combine(source, "lib", "deep", "note"), "deep note\n");
        File.WriteAllBytes(Path.Combine(source, "lib", "big.bin"), BigContent);
        File.WriteAllText(Path.Combine(source, "bin", "tool"), "#!/bin/sh\n");
        File.CreateSymbolicLink(Path.Combine(source, "bin", "link"), "tool");
        string single = Path.Combine(_root, "single.txt");
        File.WriteAllText(single, "single file\n");

        _storeDirectory = Path.Combine(_root, "store");
        string address = "local://" + _storeDirectory;
        _environment = new() { ["BLOB_SERVICE_ADDR"] = address, ["DIRECTORY_SERVICE_ADDR"] = address, ["PATH_INFO_SERVICE_ADDR"] = address };
        await using (StoreServices services = new StoreOpener().Open(StoreAddress.Parse(address)))
        {
            var importer = new PathImporter(services);
            _tree = await importer.ImportAsync(source);
            _single = await importer.ImportAsync(single);
        }
        _store = LocalStore.Open(_storeDirectory);
    }

    [TearDown]
    public void RemoveTheStore()
    {
        if (System.IO.Directory.Exists(_root))
            System.IO.Directory.Delete(_root, recursive: true);
    }

    private Task<CliResult> VerifyAsync() => CliRunner.RunAsync(_environment, "verify");

    private async Task<Directory> StoredDirectoryAsync(B3Digest digest)
    {
        await using var directories = new LocalDirectoryService(_store);
        return (await directories.GetAsync(digest))!.Message;
    }

    private async Task<(B3Digest Root, Directory Directory)> TreeRootAsync()
    {
        await using StoreServices services = new StoreOpener().Open(StoreAddress.Parse("local://" + _storeDirectory));
        var pathInfo = (await services.PathInfos.GetAsync(_tree.Hash))!;
        var root = B3Digest.FromByteString(pathInfo.Node.Directory.Digest);
        return (root, (await services.Directories.GetAsync(root))!.Message);
    }

    private static B3Digest ChildDigest(Directory directory, string name) =>
        B3Digest.FromByteString(directory.Directories.Single(d => d.Name.ToStringUtf8() == name).Digest);

    [Test]
    public async Task ACleanStoreVerifiesWithExitZeroAndNoLine()
    {
        CliResult result = await VerifyAsync();
        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(result.Out, Is.Empty);
        Assert.That(result.Error, Does.Contain("verified").And.Contain("no damage"));
    }

    [Test]
    public async Task AFlippedByteInABlobFileIsReportedByDigest()
    {
        B3Digest big = B3Digest.Compute(BigContent);
        string file = _store.BlobPath(big);
        byte[] bytes = File.ReadAllBytes(file);
        bytes[123_456] ^= 0x20;
        File.WriteAllBytes(file, bytes);

        CliResult result = await VerifyAsync();
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.OutLines, Has.Length.EqualTo(1), result.Out);
        Assert.That(result.OutLines[0], Does.StartWith($"blob {big}: its bytes hash to {B3Digest.Compute(bytes)}"));
    }

    [Test]
    public async Task ATruncatedDirectoryFileIsReportedByDigest()
    {
        (_, Directory root) = await TreeRootAsync();
        B3Digest lib = ChildDigest(root, "lib");
        string file = _store.DirectoryPath(lib);
        byte[] bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]);

        CliResult result = await VerifyAsync();
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.OutLines, Has.Length.EqualTo(1), result.Out);
        Assert.That(result.OutLines[0], Does.StartWith($"directory {lib}: its bytes hash to"));
    }

    [Test]
    public async Task ADeletedChildDirectoryIsReportedAsMissingWithItsReferrer()
    {
        (B3Digest rootDigest, Directory root) = await TreeRootAsync();
        B3Digest lib = ChildDigest(root, "lib");
        B3Digest deep = ChildDigest(await StoredDirectoryAsync(lib), "deep");
        File.Delete(_store.DirectoryPath(deep));

        CliResult result = await VerifyAsync();
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.OutLines, Has.Length.EqualTo(1), result.Out);
        Assert.That(result.OutLines[0], Does.StartWith($"directory {deep}: missing").And.Contain($"directory {lib}").And.Contain("\"deep\""));
        Assert.That(result.Out, Does.Not.Contain(rootDigest.ToString()), "an intact parent is not reported");
    }

    [Test]
    public async Task ADeletedBlobIsReportedAsMissing()
    {
        B3Digest readme = B3Digest.Compute("readme\n"u8);
        File.Delete(_store.BlobPath(readme));
        CliResult result = await VerifyAsync();
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.OutLines, Has.Length.EqualTo(1), result.Out);
        Assert.That(result.OutLines[0], Does.StartWith($"blob {readme}: missing").And.Contain("\"README\""));
    }

    [Test]
    public async Task ACorruptPathInfoIsReportedByItsFile()
    {
        string file = _store.PathInfoPath(_single.Hash);
        byte[] bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..(bytes.Length - 3)]);
        CliResult result = await VerifyAsync();
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.OutLines, Has.Length.EqualTo(1), result.Out);
        Assert.That(result.OutLines[0], Does.StartWith($"pathinfo {file}:"));
    }

    [Test]
    public async Task APathInfoUnderAnotherStorePathsNameIsReported()
    {
        // The single file's PathInfo copied under the tree's hash: valid on its own, stored under the wrong key.
        File.Copy(_store.PathInfoPath(_single.Hash), _store.PathInfoPath(_tree.Hash), overwrite: true);
        CliResult result = await VerifyAsync();
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.OutLines, Has.Length.EqualTo(1), result.Out);
        Assert.That(result.OutLines[0], Does.StartWith($"pathinfo {_single.AbsolutePath}: stored under {_store.PathInfoPath(_tree.Hash)}"));
    }

    [Test]
    public async Task APathInfoWhoseRootIsMissingIsReported()
    {
        (B3Digest root, _) = await TreeRootAsync();
        File.Delete(_store.DirectoryPath(root));
        CliResult result = await VerifyAsync();
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.OutLines, Has.Length.EqualTo(1), result.Out);
        Assert.That(result.OutLines[0], Does.StartWith($"directory {root}: missing").And.Contain(_tree.AbsolutePath));
    }

    /// <summary>Every rule-breaking object of the hostile catalogue, written into the store file by file, is reported.</summary>
    [Test]
    public async Task EveryHostileObjectIsReported()
    {
        var catalogue = new HostileCatalogue("verify", withLyingBlob: true);
        catalogue.InstallInto(_store);
        CliResult result = await VerifyAsync();
        Assert.That(result.ExitCode, Is.EqualTo(1));
        foreach (HostileCase hostile in catalogue.Cases.Where(c => c.Name != "name-mismatch"))
            Assert.That(result.OutLines.Any(line => line.Contains(hostile.WarnedDigest!, StringComparison.Ordinal)), Is.True,
                $"{hostile.Name}: a line naming {hostile.WarnedDigest}\n{result.Out}");
        Assert.That(result.OutLines.Any(line => line.StartsWith("blob " + catalogue.LyingBlob, StringComparison.Ordinal)), Is.True, result.Out);
        // The name-mismatch PathInfo is valid and stored under its node's hash: only the mount's lookup refuses it.
        Assert.That(result.Out, Does.Not.Contain(_tree.AbsolutePath).And.Not.Contain(catalogue.GoodBasename));
    }

    /// <summary>Through a daemon, from the PathInfo listing down: a damaged blob behind it is found by reading it.</summary>
    [Test]
    public async Task AStoreBehindADaemonIsVerifiedFromItsPathInfos()
    {
        await using StoreServices served = new StoreOpener().Open(StoreAddress.Parse("local://" + _storeDirectory));
        await using TestDaemon daemon = await TestDaemon.StartAsync(Transport.Unix, served);
        var remote = new Dictionary<string, string>
        {
            ["BLOB_SERVICE_ADDR"] = daemon.Address, ["DIRECTORY_SERVICE_ADDR"] = daemon.Address, ["PATH_INFO_SERVICE_ADDR"] = daemon.Address,
        };
        CliResult clean = await CliRunner.RunAsync(remote, "verify");
        Assert.That(clean.ExitCode, Is.Zero, clean.Out + clean.Error);
        Assert.That(clean.Error, Does.Contain("verified 5 blobs"), "every blob the two store paths reach, read once");

        B3Digest big = B3Digest.Compute(BigContent);
        byte[] bytes = File.ReadAllBytes(_store.BlobPath(big));
        bytes[7] ^= 1;
        File.WriteAllBytes(_store.BlobPath(big), bytes);
        CliResult damaged = await CliRunner.RunAsync(remote, "verify");
        Assert.That(damaged.ExitCode, Is.EqualTo(1), damaged.Error);
        Assert.That(damaged.OutLines, Has.Length.EqualTo(1), damaged.Out);
        Assert.That(damaged.OutLines[0], Does.StartWith($"blob {big}:"));
    }

    [Test]
    public async Task AnUnreachableDaemonIsAnErrorNotACleanStore()
    {
        string absent = "grpc+unix://" + Path.Combine(_root, "absent.sock");
        CliResult result = await CliRunner.RunAsync(new Dictionary<string, string>
        {
            ["BLOB_SERVICE_ADDR"] = absent, ["DIRECTORY_SERVICE_ADDR"] = absent, ["PATH_INFO_SERVICE_ADDR"] = absent,
        }, "verify", "--grpc-timeout", "2");
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Error, Does.Contain(absent));
        Assert.That(result.Out, Is.Empty);
    }
}
