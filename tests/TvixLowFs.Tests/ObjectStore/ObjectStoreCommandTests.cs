using NUnit.Framework;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;
using TvixLowFs.Tests.Store;
using static TvixLowFs.Tests.Store.TestTrees;

namespace TvixLowFs.Tests.ObjectStore;

/// <summary>
/// The binary on a bucket, as a user runs it: import into it, mount it directly (no daemon), two
/// daemons sharing it, and one clear line for a bucket, key or endpoint that does not work.
/// </summary>
[CancelAfter(600_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class ObjectStoreCommandTests
{
    private string _root = null!;
    private readonly List<TvixlowfsProcess> _processes = [];
    private readonly List<string> _mountPoints = [];

    [SetUp]
    public void SetUp()
    {
        if (!File.Exists("/dev/fuse"))
            Assert.Fail("/dev/fuse is missing: the mount tests need FUSE");
        _root = Path.Combine(Path.GetTempPath(), "tvixlowfs-objectstore-cmd-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void TearDown()
    {
        foreach (TvixlowfsProcess process in _processes)
            process.Dispose();
        foreach (string mountPoint in _mountPoints)
            InProcessMount.ForceUnmount(mountPoint);
        // NUnit keeps one fixture instance for every test: start the next with empty lists.
        _processes.Clear();
        _mountPoints.Clear();
        System.IO.Directory.Delete(_root, recursive: true);
    }

    private static string[] StoreFlags(string address) =>
        ["--blob-service-addr", address, "--directory-service-addr", address, "--path-info-service-addr", address];

    private string SampleTree()
    {
        string tree = Path.Combine(_root, "tree");
        Materialize(TreeDirectory.Of(
            ("a-file", TreeFile.Text("hello\n")),
            ("big", new TreeFile(Pattern(5 * 1024 * 1024 + 3, seed: 61))),
            ("sub", TreeDirectory.Of(("tool", TreeFile.Text("#!/bin/sh\n", executable: true)), ("link", new TreeSymlink("tool")))),
            ("empty", TreeDirectory.Of())), tree);
        return tree;
    }

    private string Import(string address, string tree)
    {
        (int exit, string[] output, string[] error) = TvixlowfsProcess.Run(["import", tree, .. StoreFlags(address)], timeoutSeconds: 300);
        Assert.That(exit, Is.Zero, string.Join('\n', error));
        Assert.That(output, Has.Length.EqualTo(1));
        Assert.That(output[0], Does.Match("^/nix/store/[0-9a-z]{32}-tree$"));
        return output[0]["/nix/store/".Length..];
    }

    private string Mount(string address)
    {
        string mountPoint = Path.Combine(_root, "mnt-" + _mountPoints.Count);
        System.IO.Directory.CreateDirectory(mountPoint);
        _mountPoints.Add(mountPoint);
        TvixlowfsProcess process = TvixlowfsProcess.Start(["mount", mountPoint, "--list-root", "--no-cache", .. StoreFlags(address)]);
        _processes.Add(process);
        Assert.That(process.WaitForErrorLine("mounted " + mountPoint, timeoutSeconds: 120), Is.True, string.Join('\n', process.ErrorLines));
        return mountPoint;
    }

    private static void AssertSameTree(string expected, string actual)
    {
        string[] Entries(string root) => System.IO.Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(root, path)).Order(StringComparer.Ordinal).ToArray();
        Assert.That(Entries(actual), Is.EqualTo(Entries(expected)));
        foreach (string relative in Entries(expected))
        {
            string want = Path.Combine(expected, relative), got = Path.Combine(actual, relative);
            var info = new FileInfo(want);
            if (info.LinkTarget is { } target)
                Assert.That(new FileInfo(got).LinkTarget, Is.EqualTo(target), relative);
            else if (File.Exists(want))
                Assert.That(File.ReadAllBytes(got), Is.EqualTo(File.ReadAllBytes(want)), relative);
        }
    }

    [Test]
    public void Import_into_a_bucket_then_mount_the_bucket_directly()
    {
        ObjectStoreBuckets bucket = ObjectStoreBuckets.Create();
        string address = bucket.Address("fleet");
        string tree = SampleTree();
        string storePath = Import(address, tree);
        Assert.That(S3Check.Keys(bucket.Rgw, bucket.Bucket, "fleet/pathinfos/").Keys.Single(), Is.EqualTo("fleet/pathinfos/" + storePath[..32]));

        string mountPoint = Mount(address);
        Assert.That(System.IO.Directory.EnumerateFileSystemEntries(mountPoint).Select(Path.GetFileName), Is.EqualTo(new[] { storePath }));
        AssertSameTree(tree, Path.Combine(mountPoint, storePath));
    }

    [Test]
    public void Two_daemons_on_one_bucket_import_through_one_and_mount_through_the_other()
    {
        ObjectStoreBuckets bucket = ObjectStoreBuckets.Create();
        string address = bucket.Address();
        string first = StartDaemon(address), second = StartDaemon(address);
        string tree = SampleTree();
        string storePath = Import(first, tree);

        string mountPoint = Mount(second);
        AssertSameTree(tree, Path.Combine(mountPoint, storePath));
    }

    private string StartDaemon(string address)
    {
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        TvixlowfsProcess daemon = TvixlowfsProcess.Start(["daemon", "--listen-address", $"127.0.0.1:{port}", "--log-level", "Information", .. StoreFlags(address)]);
        _processes.Add(daemon);
        Assert.That(daemon.WaitForErrorLine("serving the tvix store protocol on", timeoutSeconds: 120), Is.True, string.Join('\n', daemon.ErrorLines));
        return $"grpc+http://127.0.0.1:{port}";
    }

    [TestCase("missing bucket", "NoSuchBucket")]
    [TestCase("refused credentials", "InvalidAccessKeyId")]
    [TestCase("wrong secret", "SignatureDoesNotMatch")]
    [TestCase("unreachable endpoint", "refused")]
    public void A_bucket_that_does_not_work_is_one_line_naming_the_address_and_the_S3_error(string what, string s3Error)
    {
        CephRgw rgw = ObjectStoreSetUp.Rgw;
        string address = what switch
        {
            "missing bucket" => rgw.Address("no-such-bucket-here"),
            "refused credentials" => rgw.Address(ObjectStoreBuckets.Shared.Bucket).Replace(CephRgw.AccessKey, "NOSUCHKEY00000000000", StringComparison.Ordinal),
            "wrong secret" => rgw.Address(ObjectStoreBuckets.Shared.Bucket).Replace(CephRgw.SecretKey, "not-the-secret", StringComparison.Ordinal),
            _ => rgw.Address(ObjectStoreBuckets.Shared.Bucket).Replace(rgw.Endpoint, "http://127.0.0.1:" + ClosedPort(), StringComparison.Ordinal),
        };
        string shown = address[..address.IndexOf("aws_secret_access_key=", StringComparison.Ordinal)];
        string tree = SampleTree();
        foreach (string[] command in new[] { new[] { "import", tree }, ["mount", Path.Combine(_root, "never-mounted")] })
        {
            System.IO.Directory.CreateDirectory(Path.Combine(_root, "never-mounted"));
            (int exit, _, string[] error) = TvixlowfsProcess.Run([.. command, .. StoreFlags(address)], timeoutSeconds: 180);
            Assert.That(exit, Is.Not.Zero, $"{command[0]}: {string.Join('\n', error)}");
            Assert.That(error, Has.Length.EqualTo(1), $"{command[0]}: {string.Join('\n', error)}");
            Assert.That(error[0], Does.Contain(shown).And.Contain(s3Error), command[0]);
            Assert.That(error[0], Does.Not.Contain(CephRgw.SecretKey), "the secret key is never printed");
        }
    }

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
