using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NUnit.Framework;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Tests.Model;

/// <summary>
/// <see cref="Blake3Hasher"/> (the official C implementation in native/) against BLAKE3's published
/// test vectors and against the managed Blake3 package, one-shot and in odd-sized pieces; every SIMD
/// path of the C dispatch through native/build/libtvixlowfs_blake3_testing.so; and the opaque
/// hasher state against the C header, as printed by native/build/blake3_layout_probe.
/// </summary>
[TestFixture]
public sealed unsafe class Blake3HasherTests
{
    // BLAKE3's test_vectors/test_vectors.json, first 32 bytes of "hash": the input is bytes i % 251.
    // The lengths straddle one block (64), one chunk (1024), and the 2-, 4-, 8- and 16-chunk batches of the SIMD paths.
    private static readonly (int Length, string Hex)[] Vectors =
    [
        (0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"),
        (1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"),
        (1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"),
        (1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"),
        (1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"),
        (2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a"),
        (2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030"),
        (3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2"),
        (3073, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3"),
        (4096, "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969"),
        (4097, "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995"),
        (5120, "9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833"),
        (5121, "628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff"),
        (6144, "3e2e5b74e048f3add6d21faab3f83aa44d3b2278afb83b80b3c35164ebeca205"),
        (6145, "f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f"),
        (7168, "61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a"),
        (7169, "a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817"),
        (8192, "aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63"),
        (8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"),
        (16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4"),
        (31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"),
        (102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"),
    ];

    // Sizes beyond the vectors: 64 KiB (a gRPC chunk), 1 MiB + odd (many 16-chunk batches and a ragged tail).
    private static readonly int[] LargeLengths = [65536, 65537, (1 << 20) + 1, (1 << 20) + 12345, 3 * (1 << 20) + 1021];

    // Update sizes that split blocks and chunks at every kind of boundary.
    private static readonly int[] PieceLengths = [1, 7, 63, 64, 65, 1000, 1023, 1024, 1025, 4095, 16385, 65537];

    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
            bytes[i] = (byte)(i % 251);
        return bytes;
    }

    private static B3Digest Managed(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[B3Digest.Length];
        Blake3.Hasher.Hash(data, hash);
        return B3Digest.FromBytes(hash);
    }

    /// <summary>Feeds <paramref name="data"/> in pieces whose lengths cycle through <see cref="PieceLengths"/> from <paramref name="start"/>.</summary>
    private static void UpdateInPieces(Blake3Hasher hasher, ReadOnlySpan<byte> data, int start)
    {
        for (int i = start; !data.IsEmpty; i++)
        {
            int length = Math.Min(data.Length, PieceLengths[i % PieceLengths.Length]);
            hasher.Update(data[..length]);
            data = data[length..];
        }
    }

    [Test]
    public void PublishedVectors_OneShotAndInPieces()
    {
        Assert.Multiple(() =>
        {
            foreach (var (length, hex) in Vectors)
            {
                byte[] input = Pattern(length);
                Assert.That(Blake3Hasher.Hash(input).ToHex(), Is.EqualTo(hex), $"Hash, {length} bytes");
                Assert.That(B3Digest.Compute(input).ToHex(), Is.EqualTo(hex), $"B3Digest.Compute, {length} bytes");
                for (int start = 0; start < PieceLengths.Length; start += 3)
                {
                    var hasher = new Blake3Hasher();
                    UpdateInPieces(hasher, input, start);
                    Assert.That(hasher.Finish().ToHex(), Is.EqualTo(hex), $"in pieces from {PieceLengths[start]}, {length} bytes");
                }
            }
        });
    }

    [Test]
    public void EmptyInputIsTheEmptyDigest()
    {
        Assert.That(B3Digest.Empty.ToHex(), Is.EqualTo("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"));
        var hasher = new Blake3Hasher();
        hasher.Update([]);
        Assert.That(hasher.Finish(), Is.EqualTo(B3Digest.Empty));
    }

    [Test]
    public void LargeRandomInputs_MatchTheManagedPackage()
    {
        var random = new Random(20261126);
        Assert.Multiple(() =>
        {
            foreach (int length in LargeLengths)
            {
                var input = new byte[length];
                random.NextBytes(input);
                B3Digest expected = Managed(input);
                Assert.That(Blake3Hasher.Hash(input), Is.EqualTo(expected), $"Hash, {length} bytes");
                var hasher = new Blake3Hasher();
                UpdateInPieces(hasher, input, start: length % PieceLengths.Length);
                Assert.That(hasher.Finish(), Is.EqualTo(expected), $"in pieces, {length} bytes");
            }
        });
    }

    [Test]
    public void FinishLeavesTheStateAndResetStartsOver()
    {
        byte[] input = Pattern(5000);
        var hasher = new Blake3Hasher();
        hasher.Update(input.AsSpan(0, 3000));
        Assert.That(hasher.Finish(), Is.EqualTo(Managed(input.AsSpan(0, 3000))));
        hasher.Update(input.AsSpan(3000));
        Assert.That(hasher.Finish(), Is.EqualTo(Managed(input)), "updates after Finish continue the same input");

        hasher.Reset();
        hasher.Update(input.AsSpan(0, 1025));
        Assert.That(hasher.Finish().ToHex(), Is.EqualTo("d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"));
    }

    [Test]
    public void HashingAllocatesNothing()
    {
        byte[] input = Pattern(70000);
        var hasher = new Blake3Hasher();
        B3Digest first = Blake3Hasher.Hash(input);
        hasher.Update(input);
        hasher.Finish();
        hasher.Reset();

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            Blake3Hasher.Hash(input.AsSpan(0, i * 7));
            hasher.Update(input.AsSpan(i, 64 + i));
            if (hasher.Finish() == first)
                hasher.Reset(); // never: only uses the result
        }
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    // ---- every SIMD path, through the BLAKE3_TESTING build of the same sources ----

    // enum cpu_feature in blake3_dispatch.c.
    private const int Sse2 = 1 << 0, Ssse3 = 1 << 1, Sse41 = 1 << 2, Avx = 1 << 3, Avx2 = 1 << 4, Avx512F = 1 << 5, Avx512VL = 1 << 6;

    // The feature sets that make the dispatch pick each path for both compress and hash_many.
    private static readonly (string Path, int Features)[] Paths =
    [
        ("portable", 0),
        ("SSE2", Sse2),
        ("SSE4.1", Sse2 | Ssse3 | Sse41),
        ("AVX2", Sse2 | Ssse3 | Sse41 | Avx | Avx2),
        ("AVX-512", Sse2 | Ssse3 | Sse41 | Avx | Avx2 | Avx512F | Avx512VL),
    ];

    [Test]
    public void EverySimdPathTheCpuHas_GivesTheVectorsAndTheManagedDigests()
    {
        nint library = NativeLibrary.Load(Path.Combine(NativeBuild(), "libtvixlowfs_blake3_testing.so"));
        try
        {
            var init = (delegate* unmanaged<Blake3Hasher.HasherState*, void>)NativeLibrary.GetExport(library, "blake3_hasher_init");
            var update = (delegate* unmanaged<Blake3Hasher.HasherState*, byte*, nuint, void>)NativeLibrary.GetExport(library, "blake3_hasher_update");
            var finalize = (delegate* unmanaged<Blake3Hasher.HasherState*, byte*, nuint, void>)NativeLibrary.GetExport(library, "blake3_hasher_finalize");
            var features = (int*)NativeLibrary.GetExport(library, "g_cpu_features");

            B3Digest Hash(ReadOnlySpan<byte> data)
            {
                Blake3Hasher.HasherState state;
                Span<byte> hash = stackalloc byte[B3Digest.Length];
                fixed (byte* input = data)
                fixed (byte* output = hash)
                {
                    init(&state);
                    // In two pieces, so both the chunk-state and the many-chunks paths run.
                    int first = data.Length / 3;
                    update(&state, input, (nuint)first);
                    update(&state, input + first, (nuint)(data.Length - first));
                    finalize(&state, output, B3Digest.Length);
                }
                return B3Digest.FromBytes(hash);
            }

            Hash([1]); // makes the library detect the CPU
            int detected = *features;
            var random = new Random(7);
            var large = LargeLengths.Select(length => { var b = new byte[length]; random.NextBytes(b); return b; }).ToList();
            var ran = new List<string>();
            Assert.Multiple(() =>
            {
                foreach (var (path, wanted) in Paths)
                {
                    if ((detected & wanted) != wanted)
                        continue;
                    ran.Add(path);
                    *features = wanted;
                    foreach (var (length, hex) in Vectors)
                        Assert.That(Hash(Pattern(length)).ToHex(), Is.EqualTo(hex), $"{path}, {length} bytes");
                    foreach (byte[] input in large)
                        Assert.That(Hash(input), Is.EqualTo(Managed(input)), $"{path}, {input.Length} random bytes");
                }
            });
            *features = detected;
            TestContext.Out.WriteLine($"paths checked: {string.Join(", ", ran)} (detected features 0x{detected:x})");
            // x86-64 always has SSE2; the portable path runs everywhere.
            Assert.That(ran, Does.Contain("portable").And.Contain("SSE2"));
        }
        finally
        {
            NativeLibrary.Free(library);
        }
    }

    // ---- the opaque state against the C header ----

    [Test]
    public void HasherStateMatchesTheCHeader()
    {
        var probe = RunProbe();
        Assert.Multiple(() =>
        {
            Assert.That(Unsafe.SizeOf<Blake3Hasher.HasherState>(), Is.EqualTo(Blake3Hasher.StateSize));
            Assert.That(Blake3Hasher.StateSize, Is.EqualTo(int.Parse(probe["size blake3_hasher"])), "sizeof(blake3_hasher)");
            // The state's element type sets its alignment (managed objects and stackalloc align to it).
            Assert.That(Blake3Hasher.StateAlignment, Is.EqualTo(sizeof(ulong)));
            Assert.That(Blake3Hasher.StateAlignment, Is.EqualTo(int.Parse(probe["align blake3_hasher"])), "alignof(blake3_hasher)");
            Assert.That(B3Digest.Length, Is.EqualTo(int.Parse(probe["const BLAKE3_OUT_LEN"])));
            Assert.That(Blake3Hasher.Version, Is.EqualTo(probe["version"]), "the loaded library is the one the header describes");
        });
    }

    /// <summary>The probe's lines as "kind name" → value.</summary>
    private static Dictionary<string, string> RunProbe()
    {
        string probe = Path.Combine(NativeBuild(), "blake3_layout_probe");
        var start = new ProcessStartInfo(probe) { RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.That(process.ExitCode, Is.Zero, "blake3_layout_probe: the header's version is the linked code's");
        var values = new Dictionary<string, string>();
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int last = line.LastIndexOf(' ');
            values[line[..last]] = line[(last + 1)..];
        }
        return values;
    }

    /// <summary>native/build, built by the Store.Model project's build (make -C native).</summary>
    private static string NativeBuild()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "TvixLowFs.sln")))
                return Path.Combine(dir.FullName, "native", "build");
        }
        throw new AssertionException("TvixLowFs.sln not found above " + TestContext.CurrentContext.TestDirectory);
    }
}
