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
    private ObjectStoreProcesses _run = null!;

    [SetUp]
    public void SetUp()
    {
        if (!File.Exists("/dev/fuse"))
            Assert.Fail("/dev/fuse is missing: the mount tests need FUSE");
        _run = new ObjectStoreProcesses(Path.Combine(Path.GetTempPath(), "tvixlowfs-objectstore-cmd-" + Guid.NewGuid().ToString("N")));
    }

    [TearDown]
    public void TearDown() => _run.Dispose();

    private string SampleTree()
    {
        string tree = Path.Combine(_run.Root, "tree");
        Materialize(TreeDirectory.Of(
            ("a-file", TreeFile.Text("hello\n")),
            ("big", new TreeFile(Pattern(5 * 1024 * 1024 + 3, seed: 61))),
            ("sub", TreeDirectory.Of(("tool", TreeFile.Text("#!/bin/sh\n", executable: true)), ("link", new TreeSymlink("tool")))),
            ("empty", TreeDirectory.Of())), tree);
        return tree;
    }

    private string Mount(string address) => _run.Mount(address, "--no-cache");

    [Test]
    public void Import_into_a_bucket_then_mount_the_bucket_directly()
    {
        ObjectStoreBuckets bucket = ObjectStoreBuckets.Create();
        string address = bucket.Address("fleet");
        string tree = SampleTree();
        string storePath = ObjectStoreProcesses.Import(address, tree);
        Assert.That(S3Check.Keys(bucket.Rgw, bucket.Bucket, "fleet/pathinfos/").Keys.Single(), Is.EqualTo("fleet/pathinfos/" + storePath[..32]));

        string mountPoint = Mount(address);
        Assert.That(System.IO.Directory.EnumerateFileSystemEntries(mountPoint).Select(Path.GetFileName), Is.EqualTo(new[] { storePath }));
        ObjectStoreProcesses.AssertSameTree(tree, Path.Combine(mountPoint, storePath));
    }

    [Test]
    public void Two_daemons_on_one_bucket_import_through_one_and_mount_through_the_other()
    {
        ObjectStoreBuckets bucket = ObjectStoreBuckets.Create();
        string address = bucket.Address();
        string first = _run.StartDaemon(address).Address, second = _run.StartDaemon(address).Address;
        string tree = SampleTree();
        string storePath = ObjectStoreProcesses.Import(first, tree);

        string mountPoint = Mount(second);
        ObjectStoreProcesses.AssertSameTree(tree, Path.Combine(mountPoint, storePath));
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
            _ => rgw.Address(ObjectStoreBuckets.Shared.Bucket).Replace(rgw.Endpoint, "http://127.0.0.1:" + ObjectStoreProcesses.FreePort(), StringComparison.Ordinal),
        };
        string shown = address[..address.IndexOf("aws_secret_access_key=", StringComparison.Ordinal)];
        string tree = SampleTree();
        foreach (string[] command in new[] { new[] { "import", tree }, ["mount", Path.Combine(_run.Root, "never-mounted")] })
        {
            System.IO.Directory.CreateDirectory(Path.Combine(_run.Root, "never-mounted"));
            (int exit, _, string[] error) = TvixlowfsProcess.Run([.. command, .. ObjectStoreProcesses.StoreFlags(address)], timeoutSeconds: 180);
            Assert.That(exit, Is.Not.Zero, $"{command[0]}: {string.Join('\n', error)}");
            Assert.That(error, Has.Length.EqualTo(1), $"{command[0]}: {string.Join('\n', error)}");
            Assert.That(error[0], Does.Contain(shown).And.Contain(s3Error), command[0]);
            Assert.That(error[0], Does.Not.Contain(CephRgw.SecretKey), "the secret key is never printed");
        }
    }
}
