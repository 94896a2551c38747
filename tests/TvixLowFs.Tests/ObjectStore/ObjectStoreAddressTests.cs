using NUnit.Framework;
using TvixLowFs.Store;

namespace TvixLowFs.Tests.ObjectStore;

/// <summary>Parsing <c>objectstore+s3://BUCKET[/PREFIX]?OPTIONS</c>: strict, one message naming the address.</summary>
public sealed class ObjectStoreAddressTests
{
    [Test]
    public void Bucket_prefix_and_options_are_parsed()
    {
        StoreAddress address = StoreAddress.Parse(
            "objectstore+s3://my-bucket/some/prefix/?aws_endpoint=http://127.0.0.1:7480&aws_allow_http=true&aws_region=eu-west-1&aws_access_key_id=K&aws_secret_access_key=S%2Bx");
        Assert.That(address.Kind, Is.EqualTo(StoreAddressKind.ObjectStoreS3));
        Assert.That(address.Bucket, Is.EqualTo("my-bucket"));
        Assert.That(address.Prefix, Is.EqualTo("some/prefix/"));
        Assert.That(address.ObjectStoreOptions["aws_endpoint"], Is.EqualTo("http://127.0.0.1:7480"));
        Assert.That(address.ObjectStoreOptions["aws_secret_access_key"], Is.EqualTo("S+x"));
        Assert.That(StoreAddress.Parse("objectstore+s3://b12").Prefix, Is.Empty);
    }

    [TestCase("objectstore+s3://", "not an S3 bucket name")]
    [TestCase("objectstore+s3://Upper", "not an S3 bucket name")]
    [TestCase("objectstore+s3://ok-bucket?aws_colour=blue", "unknown option 'aws_colour'")]
    [TestCase("objectstore+s3://ok-bucket?aws_allow_http=yes", "aws_allow_http 'yes'")]
    [TestCase("objectstore+s3://ok-bucket?aws_endpoint=ftp://x", "not an http:// or https:// URL")]
    [TestCase("objectstore+s3://ok-bucket?aws_endpoint=http://127.0.0.1:1", "add aws_allow_http=true")]
    [TestCase("objectstore+s3://ok-bucket/a//b", "empty path segment")]
    public void Malformed_addresses_are_rejected_naming_the_address(string text, string reason)
    {
        var error = Assert.Throws<StoreAddressException>(() => StoreAddress.Parse(text));
        Assert.That(error!.Message, Does.Contain(text).And.Contain(reason));
    }
}
