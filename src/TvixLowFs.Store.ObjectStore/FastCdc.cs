using System.Security.Cryptography;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>
/// FastCDC v2020 (Xia et al., 2020) cut points: gear hash rolled two bytes at a time, cut-point
/// skipping below the minimum, normalised chunking level 1 (a stricter mask before the average,
/// a looser one after). Parameters as snix uses them: average 256 KiB, min avg/2, max avg*2.
/// </summary>
public sealed class FastCdc
{
    public const int DefaultAverage = 256 * 1024;

    // The gear table of the reference implementations (destor, fastcdc-rs): the first 8 bytes,
    // big-endian, of the MD5 of 64 bytes all equal to the index.
    private static readonly ulong[] Gear = CreateGear();
    private static readonly ulong[] GearShifted = Array.ConvertAll(Gear, value => value << 1);

    // The reference mask table, indexed by log2 of the size: bits spread evenly over 48 bits.
    private static readonly Dictionary<int, ulong> Masks = new()
    {
        [7] = 0x0000000018035100, [8] = 0x0000001800035300, [9] = 0x0000019000353000, [10] = 0x0000590003530000,
        [11] = 0x0000d90003530000, [12] = 0x0000d90103530000, [13] = 0x0000d90303530000, [14] = 0x0000d90313530000,
        [15] = 0x0000d90f03530000, [16] = 0x0000d90303537000, [17] = 0x0000d90703537000, [18] = 0x0000d90707537000,
        [19] = 0x0000d91707537000, [20] = 0x0000d91747537000, [21] = 0x0000d91767537000, [22] = 0x0000d93767537000,
        [23] = 0x0000d93777537000,
    };

    private readonly ulong _maskSmall, _maskLarge, _maskSmallShifted, _maskLargeShifted;

    public FastCdc(int average = DefaultAverage)
    {
        int bits = (int)Math.Round(Math.Log2(average));
        if (average is < 256 or > 4 * 1024 * 1024 || !Masks.ContainsKey(bits - 1) || !Masks.ContainsKey(bits + 1))
            throw new ArgumentOutOfRangeException(nameof(average), average, "the average chunk size must be 256 B to 4 MiB");
        Average = average;
        Minimum = average / 2;
        Maximum = average * 2;
        _maskSmall = Masks[bits + 1];
        _maskLarge = Masks[bits - 1];
        _maskSmallShifted = _maskSmall << 1;
        _maskLargeShifted = _maskLarge << 1;
    }

    public int Minimum { get; }
    public int Average { get; }
    public int Maximum { get; }

    /// <summary>
    /// The length of the chunk starting at <paramref name="source"/>[0]. <paramref name="source"/> must
    /// hold at least <see cref="Maximum"/> bytes unless it is the end of the data.
    /// </summary>
    public int Cut(ReadOnlySpan<byte> source)
    {
        int remaining = source.Length;
        if (remaining <= Minimum)
            return remaining;
        int center = Average;
        if (remaining > Maximum)
            remaining = Maximum;
        else if (remaining < center)
            center = remaining;
        int index = Minimum / 2;
        ulong hash = 0;
        for (; index < center / 2; index++)
        {
            int a = index * 2;
            hash = (hash << 2) + GearShifted[source[a]];
            if ((hash & _maskSmallShifted) == 0)
                return a;
            hash += Gear[source[a + 1]];
            if ((hash & _maskSmall) == 0)
                return a + 1;
        }
        for (; index < remaining / 2; index++)
        {
            int a = index * 2;
            hash = (hash << 2) + GearShifted[source[a]];
            if ((hash & _maskLargeShifted) == 0)
                return a;
            hash += Gear[source[a + 1]];
            if ((hash & _maskLarge) == 0)
                return a + 1;
        }
        return remaining;
    }

    private static ulong[] CreateGear()
    {
        var table = new ulong[256];
        Span<byte> seed = stackalloc byte[64];
        Span<byte> digest = stackalloc byte[MD5.HashSizeInBytes];
        for (int i = 0; i < table.Length; i++)
        {
            seed.Fill((byte)i);
#pragma warning disable CA5351 // MD5 only derives the reference gear table, nothing secret
            MD5.HashData(seed, digest);
#pragma warning restore CA5351
            table[i] = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(digest);
        }
        return table;
    }
}
