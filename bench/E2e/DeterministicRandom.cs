using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// xoshiro256** seeded through SplitMix64: fast, incompressible output that is the same on every
/// machine and every run, so a rebuilt corpus is byte-identical (unlike /dev/urandom).
/// </summary>
internal struct DeterministicRandom
{
    private ulong s0, s1, s2, s3;

    public DeterministicRandom(ulong seed)
    {
        s0 = SplitMix(ref seed);
        s1 = SplitMix(ref seed);
        s2 = SplitMix(ref seed);
        s3 = SplitMix(ref seed);
    }

    public ulong NextUInt64()
    {
        var result = ulong.RotateLeft(s1 * 5, 7) * 9;
        var t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = ulong.RotateLeft(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, bound).</summary>
    public int Next(int bound) => (int)((NextUInt64() >> 33) % (ulong)bound);

    /// <summary>Uniform in [low, high].</summary>
    public int Between(int low, int high) => low + Next(high - low + 1);

    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public void Fill(Span<byte> destination)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(destination);
        for (var i = 0; i < words.Length; i++) words[i] = BitConverter.IsLittleEndian ? NextUInt64() : BinaryPrimitives.ReverseEndianness(NextUInt64());
        var tail = destination[(words.Length * sizeof(ulong))..];
        if (!tail.IsEmpty)
        {
            Span<byte> last = stackalloc byte[sizeof(ulong)];
            BinaryPrimitives.WriteUInt64LittleEndian(last, NextUInt64());
            last[..tail.Length].CopyTo(tail);
        }
    }

    private static ulong SplitMix(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
