using System.Text;
using CsCheck;
using NUnit.Framework;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Model.BinaryCache;
using StorePath = TvixLowFs.Store.Model.StorePath;

namespace TvixLowFs.Tests.BinaryCache.Model;

/// <summary>Property tests: Parse(Format(x)) == x, and hostile bytes only ever give StoreValidationException.</summary>
[TestFixture]
public sealed class NarInfoProperties
{
    private static readonly Gen<StorePath> AStorePath = Gen.Select(
        Gen.Byte.Array[20],
        Gen.Char["abcXYZ019+-._?="].Array[1, 12],
        (hash, name) => new StorePath(StorePathHash.FromBytes(hash), name[0] == '.' ? "n" + new string(name) : new string(name)));

    // Printable text without newlines (Format refuses those), never empty where Nix would read empty as absent.
    private static readonly Gen<string> AValue = Gen.Char[' ', '~'].Array[1, 30].Select(c => new string(c));

    private static readonly Gen<NarSignature> ASignature = Gen.Select(
        Gen.Char["abc.-1"].Array[1, 8].Select(c => new string(c)),
        Gen.Byte.Array[64],
        (name, bytes) => new NarSignature(name, bytes));

    private static readonly Gen<string> AContentAddress = Gen.OneOf(
        Gen.Byte.Array[32].Select(h => "fixed:r:sha256:" + NixBase32.Encode(h)),
        Gen.Byte.Array[32].Select(h => "text:sha256:" + NixBase32.Encode(h)),
        Gen.Byte.Array[20].Select(h => "fixed:sha1:" + Convert.ToHexStringLower(h)),
        Gen.Byte.Array[64].Select(h => "fixed:r:sha512:" + Convert.ToBase64String(h)));

    private static readonly Gen<NarInfo> ANarInfo = Gen.Select(
        Gen.Select(AStorePath, AValue.Where(v => v.Trim().Length == v.Length), AValue.Where(v => v.Trim().Length == v.Length), Gen.Byte.Array[32].Null(), Gen.ULong.Nullable()),
        Gen.Select(Gen.Byte.Array[32], Gen.ULong[1, ulong.MaxValue], AStorePath.Array[0, 5], AStorePath.Null()),
        Gen.Select(AValue.Null(), ASignature.Array[0, 3], AContentAddress.Null()),
        (a, b, c) => new NarInfo
        {
            StorePath = a.Item1, Url = a.Item2, Compression = a.Item3, FileHash = a.Item4, FileSize = a.Item5,
            NarHash = b.Item1, NarSize = b.Item2, References = b.Item3.Distinct().ToArray(), Deriver = b.Item4,
            System = c.Item1, Signatures = c.Item2, ContentAddress = c.Item3,
        });

    [Test]
    public void ParseOfFormat_GivesTheSameNarInfo() =>
        ANarInfo.Sample(narInfo =>
        {
            var parsed = NarInfo.Parse(Encoding.UTF8.GetBytes(narInfo.Format()), narInfo.StorePath.Hash);
            return parsed.Equals(narInfo) && parsed.Format() == narInfo.Format() && parsed.Fingerprint() == narInfo.Fingerprint();
        }, iter: 2000);

    [Test]
    public void MutatedNarInfos_OnlyEverFailWithAReason() =>
        Gen.Select(ANarInfo, Gen.Int[0, 10_000], Gen.Byte, Gen.Int[0, 3]).Sample(t =>
        {
            var (narInfo, at, value, mode) = t;
            byte[] bytes = Encoding.UTF8.GetBytes(narInfo.Format());
            int i = at % bytes.Length;
            bytes = mode switch
            {
                0 => [.. bytes[..i], value, .. bytes[(i + 1)..]],
                1 => bytes[..i],
                2 => [.. bytes[..i], .. bytes[(i + 1)..]],
                _ => [.. bytes[..i], (byte)'\n', .. bytes[i..]],
            };
            try
            {
                var parsed = NarInfo.Parse(bytes, narInfo.StorePath.Hash);
                // whatever was accepted formats and fingerprints without failing
                return parsed.Format().Length > 0 && parsed.Fingerprint().StartsWith("1;", StringComparison.Ordinal);
            }
            catch (StoreValidationException e)
            {
                return e.Message.StartsWith("narinfo: ", StringComparison.Ordinal) && !e.Message.Contains('\n', StringComparison.Ordinal);
            }
        }, iter: 5000);
}
