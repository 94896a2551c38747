using System.Buffers.Binary;

namespace TvixLowFs.Store.Model;

/// <summary>
/// The 20-byte hash part of a store path (the nixbase32 <c>&lt;hash&gt;</c> of
/// <c>/nix/store/&lt;hash&gt;-&lt;name&gt;</c>, decoded): the key of a PathInfo.
/// Held inline so lookups by it never allocate.
/// </summary>
public readonly struct StorePathHash : IEquatable<StorePathHash>
{
    public const int Length = 20;

    private readonly ulong _w0, _w1;
    private readonly uint _w2;

    private StorePathHash(ulong w0, ulong w1, uint w2)
    {
        _w0 = w0; _w1 = w1; _w2 = w2;
    }

    public static StorePathHash FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length)
            throw new FormatException($"a store path hash is {Length} bytes, got {bytes.Length}");
        return new StorePathHash(
            BinaryPrimitives.ReadUInt64LittleEndian(bytes),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(bytes[16..]));
    }

    public void CopyTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, _w0);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], _w1);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], _w2);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Length];
        CopyTo(bytes);
        return bytes;
    }

    public string ToHex()
    {
        Span<byte> bytes = stackalloc byte[Length];
        CopyTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    public bool Equals(StorePathHash other) => _w0 == other._w0 && _w1 == other._w1 && _w2 == other._w2;
    public override bool Equals(object? obj) => obj is StorePathHash other && Equals(other);
    public override int GetHashCode() => (int)_w0 ^ (int)(_w0 >> 32);
    public static bool operator ==(StorePathHash left, StorePathHash right) => left.Equals(right);
    public static bool operator !=(StorePathHash left, StorePathHash right) => !left.Equals(right);
}
