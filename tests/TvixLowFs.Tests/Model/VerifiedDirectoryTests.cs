using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Model;

[TestFixture]
[NonParallelizable] // installs the process-wide hashing hook
public sealed class VerifiedDirectoryTests
{
    private static Directory Unique(string name, ulong size = 7)
    {
        var directory = new Directory();
        directory.Files.Add(DirectoryRulesTests.File(name + "-" + Guid.NewGuid().ToString("N"), size));
        return directory;
    }

    /// <summary>Counts how often <paramref name="digest"/> is hashed while <paramref name="action"/> runs.</summary>
    private static int HashesOf(B3Digest digest, Action action)
    {
        int count = 0;
        VerifiedDirectory.Hashed = d => { if (d == digest) Interlocked.Increment(ref count); };
        try
        {
            action();
        }
        finally
        {
            VerifiedDirectory.Hashed = null;
        }
        return count;
    }

    [Test]
    public void DecodeHashesOnceAndCarriesDigestSizeCanonicalBytesAndMessage()
    {
        Directory directory = Unique("a");
        B3Digest digest = DirectoryRules.Digest(directory);
        VerifiedDirectory? verified = null;
        Assert.That(HashesOf(digest, () => verified = VerifiedDirectory.Decode(directory.ToByteArray(), digest)), Is.EqualTo(1));
        Assert.That(verified!.Digest, Is.EqualTo(digest));
        Assert.That(verified.Size, Is.EqualTo(1UL));
        Assert.That(verified.Canonical.ToArray(), Is.EqualTo(DirectoryEncoding.Canonical(directory)));
        Assert.That(verified.Message, Is.EqualTo(directory));
    }

    [Test]
    public void CreateHashesOnce()
    {
        Directory directory = Unique("b");
        B3Digest digest = DirectoryRules.Digest(directory);
        Assert.That(HashesOf(digest, () => Assert.That(VerifiedDirectory.Create(directory).Digest, Is.EqualTo(digest))), Is.EqualTo(1));
    }

    [Test]
    public void UnknownFieldsAreDroppedFromTheCanonicalBytes()
    {
        Directory directory = Unique("c");
        B3Digest digest = DirectoryRules.Digest(directory);
        // Field 15 (varint 1) is unknown to Directory: the bytes differ, the digest does not.
        byte[] withUnknown = [.. directory.ToByteArray(), 0x78, 0x01];
        VerifiedDirectory verified = VerifiedDirectory.Decode(withUnknown, digest);
        Assert.That(verified.Canonical.ToArray(), Is.EqualTo(DirectoryEncoding.Canonical(directory)));
    }

    [Test]
    public void AnotherDigestOrABrokenRuleIsRefusedNamingTheDigestAsked()
    {
        var asked = B3Digest.Compute("asked"u8);
        var error = Assert.Throws<StoreValidationException>(() => VerifiedDirectory.Verify(Unique("d"), asked));
        Assert.That(error!.Message, Does.Contain(asked.ToString()).And.Contain("hashes to"));

        var unsorted = new Directory { Files = { DirectoryRulesTests.File("b"), DirectoryRulesTests.File("a") } };
        error = Assert.Throws<StoreValidationException>(() => VerifiedDirectory.Verify(unsorted, asked));
        Assert.That(error!.Message, Does.Contain(asked.ToString()).And.Contain(DirectoryRules.RuleSorted));
        Assert.Throws<StoreValidationException>(() => VerifiedDirectory.Create(unsorted));
    }

    [Test]
    public void AParentNodeMustCarryTheRecursiveSize()
    {
        VerifiedDirectory verified = VerifiedDirectory.Create(Unique("e"));
        var node = new DirectoryNode { Name = ByteString.CopyFromUtf8("e"), Digest = verified.Digest.ToByteString(), Size = verified.Size };
        Assert.DoesNotThrow(() => verified.CheckReferredBy(node));
        node.Size++;
        var error = Assert.Throws<StoreValidationException>(() => verified.CheckReferredBy(node));
        Assert.That(error!.Message, Does.Contain(DirectoryRules.RuleChildSize));
    }
}
