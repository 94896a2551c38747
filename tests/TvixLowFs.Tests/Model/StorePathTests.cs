using System.Text;
using NUnit.Framework;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Tests.Model;

[TestFixture]
public sealed class StorePathTests
{
    private const string HashText = "00bgd045z0d4icpbc2yyz4gx48ak44la";
    private const string HashHex = "8a12321522fd91efbd60ebb2481af88580f61600";

    [Test]
    public void ParseBasename_DecodesHashAndName()
    {
        var path = StorePath.ParseBasename(HashText + "-net-tools-1.60_p20170221182432");
        Assert.That(path.Hash.ToHex(), Is.EqualTo(HashHex));
        Assert.That(path.Name, Is.EqualTo("net-tools-1.60_p20170221182432"));
        Assert.That(path.Basename, Is.EqualTo(HashText + "-net-tools-1.60_p20170221182432"));
        Assert.That(path.HashPart, Is.EqualTo(HashText));
        Assert.That(path.AbsolutePath, Is.EqualTo("/nix/store/" + HashText + "-net-tools-1.60_p20170221182432"));
        Assert.That(path.ToString(), Is.EqualTo(path.AbsolutePath));
    }

    [Test]
    public void ParseAbsolute_AcceptsTheStorePrefixOnly()
    {
        var path = StorePath.ParseAbsolute("/nix/store/" + HashText + "-foo");
        Assert.That(path, Is.EqualTo(StorePath.ParseBasename(HashText + "-foo")));
        Assert.Throws<FormatException>(() => StorePath.ParseAbsolute("/nix/stor/" + HashText + "-foo"));
        Assert.Throws<FormatException>(() => StorePath.ParseAbsolute(HashText + "-foo"));
        Assert.Throws<FormatException>(() => StorePath.ParseAbsolute("/nix/store/" + HashText + "-foo/bin"));
    }

    [Test]
    public void Constructor_BuildsTheBasenameFromHashAndName()
    {
        var hash = StorePathHash.FromBytes(Convert.FromHexString(HashHex));
        var path = new StorePath(hash, "foo");
        Assert.That(path.Basename, Is.EqualTo(HashText + "-foo"));
        Assert.That(path.BasenameBytes(), Is.EqualTo(Encoding.ASCII.GetBytes(HashText + "-foo")));
        Assert.That(path.BasenameEquals(Encoding.ASCII.GetBytes(HashText + "-foo")), Is.True);
        Assert.That(path.BasenameEquals(Encoding.ASCII.GetBytes(HashText + "-fo")), Is.False);
        Assert.That(path.BasenameEquals(Encoding.ASCII.GetBytes(HashText + "-fop")), Is.False);
        Assert.Throws<FormatException>(() => new StorePath(hash, "a b"));
    }

    [TestCase("a")]
    [TestCase("A-Za-z0-9+-._?=")]
    [TestCase("foo.")]
    [TestCase("-")]
    public void ValidNames_AreAccepted(string name)
    {
        Assert.That(StorePath.IsValidName(name), Is.True);
        Assert.That(StorePath.IsValidName(Encoding.ASCII.GetBytes(name)), Is.True);
        Assert.That(StorePath.TryParseBasename(Encoding.ASCII.GetBytes(HashText + "-" + name), out StorePathHash hash), Is.True);
        Assert.That(hash.ToHex(), Is.EqualTo(HashHex));
    }

    [Test]
    public void NameOf211Characters_IsTheLongestAccepted()
    {
        Assert.That(StorePath.IsValidName(new string('x', 211)), Is.True);
        Assert.That(StorePath.IsValidName(new string('x', 212)), Is.False);
        Assert.That(StorePath.TryParseBasename(Encoding.ASCII.GetBytes(HashText + "-" + new string('x', 212)), out StorePathHash _), Is.False);
    }

    [TestCase("", "empty")]
    [TestCase(".hidden", "starts with '.'")]
    [TestCase(".", "starts with '.'")]
    [TestCase("..", "starts with '.'")]
    [TestCase("a b", "' '")]
    [TestCase("a/b", "'/'")]
    [TestCase("caf\u00e9", "U+00E9")]
    [TestCase("a\nb", "U+000A")]
    [TestCase("a:b", "':'")]
    [TestCase("a~b", "'~'")]
    public void InvalidNames_AreRejectedSayingWhy(string name, string reason)
    {
        Assert.That(StorePath.IsValidName(name), Is.False);
        Assert.That(StorePath.TryParseBasename(Encoding.UTF8.GetBytes(HashText + "-" + name), out StorePathHash _), Is.False);
        Assert.That(StorePath.TryParseBasename(HashText + "-" + name, out StorePath? parsed), Is.False);
        Assert.That(parsed, Is.Null);
        var error = Assert.Throws<FormatException>(() => StorePath.ParseBasename(HashText + "-" + name));
        Assert.That(error!.Message, Does.Contain(reason));
    }

    [TestCase("00bgd045z0d4icpbc2yyz4gx48ak44l-foo", "not a nixbase32 hash")] // 31-char hash
    [TestCase("00bgd045z0d4icpbc2yyz4gx48ak44lae-foo", "expected '-'")] // 33-char hash
    [TestCase("00bgd045z0d4icpbc2yyz4gx48ak44le-foo", "not a nixbase32 hash")] // 'e' is not in the alphabet
    [TestCase("00bgd045z0d4icpbc2yyz4gx48ak44la_foo", "expected '-'")]
    [TestCase("00bgd045z0d4icpbc2yyz4gx48ak44la-", "empty")]
    [TestCase("short", "characters long")]
    public void InvalidBasenames_AreRejectedSayingWhy(string basename, string reason)
    {
        Assert.That(StorePath.TryParseBasename(Encoding.UTF8.GetBytes(basename), out StorePathHash _), Is.False);
        var error = Assert.Throws<FormatException>(() => StorePath.ParseBasename(basename));
        Assert.That(error!.Message, Does.Contain(reason));
    }

    [Test]
    public void ParseBasename_OfBytes_MatchesTheStringForm()
    {
        var fromBytes = StorePath.ParseBasename(Encoding.ASCII.GetBytes(HashText + "-foo"));
        Assert.That(fromBytes, Is.EqualTo(StorePath.ParseBasename(HashText + "-foo")));
        Assert.Throws<FormatException>(() => StorePath.ParseBasename([.. Encoding.ASCII.GetBytes(HashText + "-fo"), 0xFF]));
    }

    [Test]
    public void TryParseBasename_DoesNotAllocate()
    {
        byte[] name = Encoding.ASCII.GetBytes(HashText + "-hello-2.12.1");
        StorePath.TryParseBasename(name, out StorePathHash _);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
            StorePath.TryParseBasename(name, out StorePathHash _);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }
}
