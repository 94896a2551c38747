using System.Text;
using NUnit.Framework;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Tests.Model;

[TestFixture]
public sealed class NixBase32Tests
{
    // The vectors of shared/PROTOCOL.md.
    [TestCase("", "")]
    [TestCase("0z", "1f")]
    [TestCase("00bgd045z0d4icpbc2yyz4gx48ak44la", "8a12321522fd91efbd60ebb2481af88580f61600")]
    [TestCase("0c5b8vw40dy178xlpddw65q9gf1h2186jcc3p4swinwggbllv8mk", "b3a24de97a8fdbc835b9833169501030b8977031bcb54b3b3ac13740f846ab30")]
    public void Vector_EncodesAndDecodes(string text, string hex)
    {
        byte[] bytes = Convert.FromHexString(hex);
        Assert.That(NixBase32.Encode(bytes), Is.EqualTo(text));
        Assert.That(NixBase32.Decode(text), Is.EqualTo(bytes));

        var destination = new byte[bytes.Length];
        Assert.That(NixBase32.TryDecode(Encoding.ASCII.GetBytes(text), destination), Is.True);
        Assert.That(destination, Is.EqualTo(bytes));

        var encoded = new byte[NixBase32.EncodedLength(bytes.Length)];
        NixBase32.Encode(bytes, encoded);
        Assert.That(Encoding.ASCII.GetString(encoded), Is.EqualTo(text));
    }

    [TestCase("zz")]
    [TestCase("c0")]
    public void Vector_LeftoverBits_AreRejected(string text)
    {
        Assert.That(NixBase32.TryDecode(Encoding.ASCII.GetBytes(text), new byte[1]), Is.False);
        var error = Assert.Throws<FormatException>(() => NixBase32.Decode(text));
        Assert.That(error!.Message, Does.Contain("non-zero bits"));
    }

    [TestCase("0e", 'e')]
    [TestCase("0o", 'o')]
    [TestCase("0u", 'u')]
    [TestCase("0t", 't')]
    [TestCase("0A", 'A')]
    [TestCase("0-", '-')]
    public void CharactersOutsideTheAlphabet_AreRejected(string text, char bad)
    {
        Assert.That(NixBase32.TryDecode(Encoding.ASCII.GetBytes(text), new byte[1]), Is.False);
        var error = Assert.Throws<FormatException>(() => NixBase32.Decode(text));
        Assert.That(error!.Message, Does.Contain($"'{bad}'"));
    }

    [Test]
    public void NonAsciiText_IsRejected()
    {
        Assert.That(NixBase32.TryDecode("0\u0130".AsSpan(), new byte[1]), Is.False);
        Assert.That(NixBase32.TryDecode([(byte)'0', 0xB1], new byte[1]), Is.False);
        Assert.Throws<FormatException>(() => NixBase32.Decode("0\u0130"));
    }

    [TestCase(1)]
    [TestCase(3)]
    [TestCase(6)]
    public void LengthsThatEncodeNoByteCount_AreRejected(int chars)
    {
        Assert.That(NixBase32.DecodedLength(chars), Is.EqualTo(-1));
        Assert.Throws<FormatException>(() => NixBase32.Decode(new string('0', chars)));
    }

    [Test]
    public void TryDecode_RejectsADestinationOfTheWrongLength()
    {
        var text = Encoding.ASCII.GetBytes("00bgd045z0d4icpbc2yyz4gx48ak44la");
        Assert.That(NixBase32.TryDecode(text, new byte[19]), Is.False);
        Assert.That(NixBase32.TryDecode(text, new byte[21]), Is.False);
        Assert.That(NixBase32.TryDecode(text, new byte[20]), Is.True);
    }

    [TestCase(0, 0)]
    [TestCase(1, 2)]
    [TestCase(20, 32)]
    [TestCase(32, 52)]
    [TestCase(64, 103)]
    public void EncodedLength_IsCeilingOfEightNOverFive(int bytes, int chars)
    {
        Assert.That(NixBase32.EncodedLength(bytes), Is.EqualTo(chars));
        Assert.That(NixBase32.DecodedLength(chars), Is.EqualTo(bytes));
    }

    [Test]
    public void TryDecode_OfAStorePathHash_DoesNotAllocate()
    {
        var text = Encoding.ASCII.GetBytes("00bgd045z0d4icpbc2yyz4gx48ak44la");
        var destination = new byte[20];
        NixBase32.TryDecode(text, destination);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
            NixBase32.TryDecode(text, destination);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }
}
