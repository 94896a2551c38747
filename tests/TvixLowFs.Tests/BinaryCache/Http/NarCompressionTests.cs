using System.Security.Cryptography;
using NUnit.Framework;
using TvixLowFs.Store.BinaryCache;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Tests.BinaryCache.Http;

/// <summary>
/// NarCompression against data made by the real tools (xz, zstd, bzip2, brotli, gzip) and by real
/// Nix 2.8 (<see cref="NixBinaryCaches"/>): exact bytes for every method, detection by magic for
/// unknown names, and every damaged stream (cut, flipped, with bytes after its end) failing with
/// InvalidDataException instead of passing as other bytes.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class NarCompressionTests
{
    /// <summary>Compression name → the CLI that writes it and its flags.</summary>
    private static readonly Dictionary<string, (string Tool, string[] Flags)> Tools = new()
    {
        ["xz"] = ("xz", []),
        ["zstd"] = ("zstd", ["-q"]),
        ["bzip2"] = ("bzip2", []),
        ["br"] = ("brotli", []),
        ["gzip"] = ("gzip", []),
    };

    private static readonly string[] Methods = ["xz", "zstd", "bzip2", "br", "gzip"];

    // The methods whose format carries a checksum of the content (zstd: the CLI writes one).
    private static readonly string[] Checksummed = ["xz", "zstd", "bzip2", "gzip"];

    private static readonly string[] DetectableByMagic = ["xz", "zstd", "bzip2", "gzip", "none"];

    private static readonly string[] CompressedByNix = ["xz", "zstd", "bzip2", "br", "gzip"];

    private static readonly byte[] Payload = MakePayload(700_000);

    private static byte[] MakePayload(int length)
    {
        // Half noise, half text: several blocks/frames in every format, not all of it compressible.
        var random = new Random(7);
        byte[] noise = new byte[length / 2];
        random.NextBytes(noise);
        var text = new System.Text.StringBuilder();
        for (int i = 0; text.Length < length / 2; i++) text.Append(System.Globalization.CultureInfo.InvariantCulture, $"line {i} of a nar payload\n");
        return [.. noise, .. System.Text.Encoding.ASCII.GetBytes(text.ToString())];
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> CompressedPayloads = new();

    /// <summary>What the method's CLI writes for <paramref name="data"/> (the shared payload's is made once).</summary>
    private static byte[] Compress(string method, byte[] data) =>
        ReferenceEquals(data, Payload)
            ? CompressedPayloads.GetOrAdd(method, m => ExternalTool.Compress(Tools[m].Tool, Payload, Tools[m].Flags))
            : ExternalTool.Compress(Tools[method].Tool, data, Tools[method].Flags);

    private static byte[] Decompress(byte[] compressed, string compression, int readSize = 65536)
    {
        using Stream stream = NarCompression.Open(new MemoryStream(compressed), compression);
        var output = new MemoryStream();
        byte[] buffer = new byte[readSize];
        int n;
        // Bounded: no test payload decompresses past 64 MiB.
        while ((n = stream.Read(buffer)) > 0)
        {
            Assert.That(n, Is.LessThanOrEqualTo(readSize));
            output.Write(buffer, 0, n);
            if (output.Length > 64 << 20) Assert.Fail("decompressed past 64 MiB");
        }
        return output.ToArray();
    }

    private static async Task<byte[]> DecompressAsync(byte[] compressed, string compression, int readSize = 65536)
    {
        await using Stream stream = NarCompression.Open(new MemoryStream(compressed), compression);
        var output = new MemoryStream();
        byte[] buffer = new byte[readSize];
        int n;
        while ((n = await stream.ReadAsync(buffer, TestContext.CurrentContext.CancellationToken)) > 0)
        {
            output.Write(buffer, 0, n);
            if (output.Length > 64 << 20) Assert.Fail("decompressed past 64 MiB");
        }
        return output.ToArray();
    }

    [TestCaseSource(nameof(Methods))]
    public void DecompressesWhatTheToolWrote(string method)
    {
        byte[] compressed = Compress(method, Payload);
        Assert.That(Decompress(compressed, method), Is.EqualTo(Payload));
    }

    [TestCaseSource(nameof(Methods))]
    public async Task DecompressesAsynchronouslyToo(string method)
    {
        byte[] compressed = Compress(method, Payload);
        Assert.That(await DecompressAsync(compressed, method, 10_000), Is.EqualTo(Payload));
    }

    /// <summary>Reads of 1 and 7 bytes (output full at every step) and of exactly the content's size.</summary>
    [TestCaseSource(nameof(Methods))]
    public void AnyReadSizeGivesTheSameBytes(string method)
    {
        byte[] small = Payload[..20_000];
        byte[] compressed = Compress(method, small);
        Assert.Multiple(() =>
        {
            Assert.That(Decompress(compressed, method, 1), Is.EqualTo(small), "1-byte reads");
            Assert.That(Decompress(compressed, method, 7), Is.EqualTo(small), "7-byte reads");
            Assert.That(Decompress(compressed, method, small.Length), Is.EqualTo(small), "one read of exactly the size");
        });
    }

    /// <summary>
    /// Content whose end falls exactly at the end of a read buffer (131072 = 2 × 65536): the end of
    /// the format is seen only on the next call, with the input already consumed.
    /// </summary>
    [TestCaseSource(nameof(Methods))]
    public void ContentEndingExactlyAtABufferEnd(string method)
    {
        byte[] data = MakePayload(131_072);
        Assert.That(Decompress(Compress(method, data), method, 65_536), Is.EqualTo(data));
    }

    [TestCaseSource(nameof(Methods))]
    public void EmptyContentDecompressesToNothing(string method)
    {
        Assert.That(Decompress(Compress(method, []), method), Is.Empty);
    }

    /// <summary>Streams written one after another decode as one, as the tools' own decoders do (brotli has no such thing).</summary>
    [TestCase("xz")]
    [TestCase("zstd")]
    [TestCase("bzip2")]
    [TestCase("gzip")]
    public void ConcatenatedStreamsDecodeAsOne(string method)
    {
        byte[] first = Payload[..100_000];
        byte[] second = Payload[200_000..300_000];
        byte[] both = [.. Compress(method, first), .. Compress(method, second)];
        Assert.That(Decompress(both, method), Is.EqualTo((byte[])[.. first, .. second]));
    }

    [Test]
    public void XzStreamPaddingIsAcceptedInFours()
    {
        // xz allows zero padding in multiples of four bytes between and after streams.
        byte[] stream = Compress("xz", Payload[..1000]);
        Assert.Multiple(() =>
        {
            Assert.That(Decompress([.. stream, 0, 0, 0, 0], "xz"), Is.EqualTo(Payload[..1000]), "after");
            Assert.That(Decompress([.. stream, 0, 0, 0, 0, 0, 0, 0, 0, .. stream], "xz"), Is.EqualTo((byte[])[.. Payload[..1000], .. Payload[..1000]]), "between");
            Assert.Throws<InvalidDataException>(() => Decompress([.. stream, 0, 0], "xz"), "2 bytes of padding");
            Assert.Throws<InvalidDataException>(() => Decompress([.. stream, 0, 0, .. stream], "xz"), "2 bytes of padding between");
        });
    }

    [Test]
    public void XzMultiBlockAndEveryCheckType()
    {
        Assert.Multiple(() =>
        {
            foreach (string check in new[] { "none", "crc32", "crc64", "sha256" })
            {
                byte[] compressed = ExternalTool.Compress("xz", Payload, "--check=" + check, "--block-size=65536");
                Assert.That(Decompress(compressed, "xz"), Is.EqualTo(Payload), check);
            }
        });
    }

    [TestCaseSource(nameof(Methods))]
    public void BytesAfterTheEndFail(string method)
    {
        byte[] trailing = [.. Compress(method, Payload), .. "garbage after the stream"u8];
        var failure = Assert.Throws<InvalidDataException>(() => Decompress(trailing, method));
        Assert.That(failure!.Message, Does.Contain("after the end"));
    }

    [TestCaseSource(nameof(Methods))]
    public void CutTailFailsAsTruncated(string method)
    {
        byte[] compressed = Compress(method, Payload);
        Assert.Multiple(() =>
        {
            foreach (int cut in new[] { 1, 4, 8, 100, compressed.Length / 2, compressed.Length - 1 })
            {
                byte[] truncated = compressed[..^cut];
                var failure = Assert.Throws<InvalidDataException>(() => Decompress(truncated, method), $"cut {cut}");
                Assert.That(failure?.Message, Does.Contain("truncated").Or.Contain("corrupt"), $"cut {cut}");
            }
        });
    }

    [TestCaseSource(nameof(Methods))]
    public void EmptyInputFails(string method)
    {
        var failure = Assert.Throws<InvalidDataException>(() => Decompress([], method));
        Assert.That(failure!.Message, Does.Contain("truncated"));
    }

    [TestCaseSource(nameof(Checksummed))]
    public void FlippedByteFailsWhereTheFormatHasAChecksum(string method)
    {
        byte[] compressed = Compress(method, Payload);
        Assert.Multiple(() =>
        {
            // Headers, the middle and the trailer (where the checksums are).
            foreach (int at in new[] { 20, compressed.Length / 3, compressed.Length / 2, compressed.Length - 6 })
            {
                byte[] corrupt = (byte[])compressed.Clone();
                corrupt[at] ^= 0x20;
                Assert.Throws<InvalidDataException>(() => Decompress(corrupt, method), $"byte {at} of {compressed.Length} flipped");
            }
        });
    }

    /// <summary>Brotli has no checksum: a flipped byte fails, or decodes to other bytes (caught by the NAR hash) — never the same bytes passing silently as right.</summary>
    [Test]
    public void FlippedBrotliByteFailsOrChangesTheOutput()
    {
        byte[] compressed = Compress("br", Payload);
        Assert.Multiple(() =>
        {
            foreach (int at in new[] { compressed.Length / 3, compressed.Length / 2 })
            {
                byte[] corrupt = (byte[])compressed.Clone();
                corrupt[at] ^= 0x20;
                try
                {
                    Assert.That(Decompress(corrupt, "br"), Is.Not.EqualTo(Payload), $"byte {at}");
                }
                catch (InvalidDataException)
                {
                    // the decoder saw it
                }
            }
        });
    }

    [TestCase("xz", "bzip2")]
    [TestCase("bzip2", "xz")]
    [TestCase("gzip", "zstd")]
    [TestCase("zstd", "gzip")]
    [TestCase("xz", "br")]
    public void DataOfAnotherFormatFails(string writtenAs, string readAs)
    {
        Assert.Throws<InvalidDataException>(() => Decompress(Compress(writtenAs, Payload), readAs));
    }

    /// <summary>A name other than the known ones: the data's magic bytes decide, as Nix 2.8 (libarchive) does.</summary>
    [TestCase("xz")]
    [TestCase("zstd")]
    [TestCase("bzip2")]
    [TestCase("gzip")]
    public void UnknownNameIsDetectedByMagic(string method)
    {
        byte[] compressed = Compress(method, Payload);
        Assert.Multiple(() =>
        {
            Assert.That(Decompress(compressed, "lz4"), Is.EqualTo(Payload), "lz4");
            Assert.That(Decompress(compressed, "XZ"), Is.EqualTo(Payload), "XZ");
            Assert.That(Decompress(compressed, "nonsense", 3), Is.EqualTo(Payload), "3-byte reads");
        });
    }

    [Test]
    public async Task UnknownNameOverAnUncompressedNarPassesItThrough()
    {
        Assert.That(Decompress(NixBinaryCaches.Nar, "whatever"), Is.EqualTo(NixBinaryCaches.Nar));
        Assert.That(await DecompressAsync(NixBinaryCaches.Nar, "whatever"), Is.EqualTo(NixBinaryCaches.Nar));
    }

    [Test]
    public void UnknownNameOverUnknownDataIsUnsupported()
    {
        byte[] lz4Frame = [0x04, 0x22, 0x4D, 0x18, 0x64, 0x40, 0xA7, 0, 0, 0, 0, 0, 0, 0];
        var failure = Assert.Throws<StoreValidationException>(() => Decompress(lz4Frame, "lz4"));
        Assert.That(failure!.Message, Is.EqualTo("unsupported compression 'lz4'"));
        Assert.Throws<StoreValidationException>(() => Decompress([], "lzip"));
    }

    [Test]
    public void NoneAndEmptyAreTheStreamItself()
    {
        var inner = new MemoryStream(Payload);
        Assert.That(NarCompression.Open(inner, "none"), Is.SameAs(inner));
        Assert.That(NarCompression.Open(inner, ""), Is.SameAs(inner));
    }

    [TestCase("xz")]
    [TestCase("zstd")]
    [TestCase("bzip2")]
    [TestCase("br")]
    [TestCase("gzip")]
    [TestCase("detected")]
    public void DisposingTheDecompressorDisposesTheInnerStream(string compression)
    {
        var inner = new DisposalTrackingStream(Compress("xz", Payload));
        Stream decoder = NarCompression.Open(inner, compression);
        decoder.Dispose();
        Assert.That(inner.Disposed, Is.True);
        Assert.Throws<ObjectDisposedException>(() => decoder.ReadByte());
    }

    /// <summary>A decompression bomb (1 GiB of zeros in a few hundred KiB): bounded reads stay bounded in time and memory.</summary>
    [TestCase("zstd")]
    [TestCase("xz")]
    public void BombReadsStayBounded(string method)
    {
        byte[] bomb = ExternalTool.Run("sh", ["-c", $"head -c {(method == "xz" ? 256 : 1024)}M /dev/zero | {Tools[method].Tool} -1 -c"]);
        Assert.That(bomb.Length, Is.LessThan(1 << 20));
        long before = GC.GetAllocatedBytesForCurrentThread();
        using Stream stream = NarCompression.Open(new MemoryStream(bomb), method);
        byte[] buffer = new byte[65536];
        long total = 0;
        while (total < 4 << 20)
        {
            int n = stream.Read(buffer);
            Assert.That(n, Is.InRange(1, buffer.Length));
            total += n;
        }
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(16 << 20), "managed bytes allocated to read 4 MiB");
    }

    /// <summary>Every NAR real Nix wrote, decompressed by its narinfo's Compression, is the tree's NAR exactly.</summary>
    [TestCaseSource(typeof(NixBinaryCaches), nameof(NixBinaryCaches.Compressions))]
    public void DecompressesWhatNixWrote(string compression)
    {
        var (_, fields) = NixBinaryCaches.NarInfoOf(compression);
        Assert.That(fields["Compression"], Is.EqualTo(compression));
        Assert.That(fields["URL"], Does.EndWith(NarCompression.NarExtension(compression)), "Nix's extension for " + compression);
        byte[] file = File.ReadAllBytes(Path.Combine(NixBinaryCaches.CacheOf(compression), fields["URL"]));
        byte[] nar = Decompress(file, compression);
        Assert.That(nar, Is.EqualTo(NixBinaryCaches.Nar));
        Assert.That("sha256:" + NixBase32.Encode(SHA256.HashData(nar)), Is.EqualTo(fields["NarHash"]));
    }

    /// <summary>Brotli has no magic bytes (Nix 2.8 cannot detect it either): see NixBrotliUnderAWrongNameIsUnsupported.</summary>
    [TestCaseSource(nameof(DetectableByMagic))]
    public void DetectsWhatNixWroteUnderAWrongName(string compression)
    {
        var (_, fields) = NixBinaryCaches.NarInfoOf(compression);
        byte[] file = File.ReadAllBytes(Path.Combine(NixBinaryCaches.CacheOf(compression), fields["URL"]));
        Assert.That(Decompress(file, "wrong-name"), Is.EqualTo(NixBinaryCaches.Nar));
    }

    [Test]
    public void NixBrotliUnderAWrongNameIsUnsupported()
    {
        var (_, fields) = NixBinaryCaches.NarInfoOf("br");
        byte[] file = File.ReadAllBytes(Path.Combine(NixBinaryCaches.CacheOf("br"), fields["URL"]));
        var failure = Assert.Throws<StoreValidationException>(() => Decompress(file, "lz4"));
        Assert.That(failure!.Message, Does.Contain("'lz4'"));
    }

    /// <summary>An uncompressed NAR has no end marker here; the NAR reader and NarSize catch a cut one.</summary>
    [TestCaseSource(nameof(CompressedByNix))]
    public void TruncatedNixNarsFail(string compression)
    {
        var (_, fields) = NixBinaryCaches.NarInfoOf(compression);
        byte[] file = File.ReadAllBytes(Path.Combine(NixBinaryCaches.CacheOf(compression), fields["URL"]));
        Assert.Multiple(() =>
        {
            foreach (int cut in new[] { 1, 16, file.Length / 2 })
                Assert.Throws<InvalidDataException>(() => Decompress(file[..^cut], compression), $"cut {cut}");
        });
    }

    [Test]
    public void NarExtensionsAreNix28s()
    {
        Assert.Multiple(() =>
        {
            Assert.That(NarCompression.NarExtension("xz"), Is.EqualTo(".nar.xz"));
            Assert.That(NarCompression.NarExtension("zstd"), Is.EqualTo(".nar.zst"));
            Assert.That(NarCompression.NarExtension("bzip2"), Is.EqualTo(".nar.bz2"));
            Assert.That(NarCompression.NarExtension("br"), Is.EqualTo(".nar.br"));
            Assert.That(NarCompression.NarExtension("gzip"), Is.EqualTo(".nar"));
            Assert.That(NarCompression.NarExtension("none"), Is.EqualTo(".nar"));
            Assert.That(NarCompression.NarExtension("lz4"), Is.EqualTo(".nar.lz4"));
            Assert.That(NarCompression.NarExtension("lzip"), Is.EqualTo(".nar.lzip"));
        });
    }

    private sealed class DisposalTrackingStream(byte[] bytes) : MemoryStream(bytes)
    {
        public bool Disposed { get; private set; }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
