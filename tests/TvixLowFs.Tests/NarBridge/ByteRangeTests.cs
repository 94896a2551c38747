using NUnit.Framework;
using TvixLowFs.NarBridge;

namespace TvixLowFs.Tests.NarBridge;

public sealed class ByteRangeTests
{
    [TestCase("bytes=0-99", 0, 100)]
    [TestCase("bytes=10-", 10, 1000)]
    [TestCase("bytes=-100", 900, 1000)]
    [TestCase("bytes=-5000", 0, 1000)]
    [TestCase("bytes=990-5000", 990, 1000)]
    [TestCase("bytes= 5-9", 5, 10)]
    public void ASingleRangeIsThePartAskedFor(string header, long start, long end) =>
        Assert.That(ByteRange.Parse(header, 1000), Is.EqualTo(new ByteRange(start, end)));

    [TestCase(null)]
    [TestCase("")]
    [TestCase("items=0-5")]
    [TestCase("bytes=0-5,10-20")]
    [TestCase("bytes=9-5")]
    [TestCase("bytes=abc")]
    [TestCase("bytes=-0")]
    [TestCase("bytes=+5-")]
    public void AnythingElseMeansTheWholeNar(string? header) => Assert.That(ByteRange.Parse(header, 1000), Is.Null);

    [TestCase("bytes=1000-")]
    [TestCase("bytes=5000-6000")]
    public void ARangePastTheEndIsUnsatisfiable(string header) =>
        Assert.That(ByteRange.Parse(header, 1000)?.IsUnsatisfiable, Is.True);
}
