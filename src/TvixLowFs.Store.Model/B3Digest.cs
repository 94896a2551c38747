using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;

namespace TvixLowFs.Store.Model;

/// <summary>
/// A BLAKE3-256 digest: the address of a blob or a Directory. Held inline as four
/// words so it can key dictionaries and sit in inode records without allocating.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct B3Digest : IEquatable<B3Digest>
{
    public const int Length = 32;

    private readonly ulong _w0, _w1, _w2, _w3;

    private B3Digest(ulong w0, ulong w1, ulong w2, ulong w3)
    {
        _w0 = w0; _w1 = w1; _w2 = w2; _w3 = w3;
    }

    /// <summary>BLAKE3 of the empty input: the digest of the empty Directory and the empty blob.</summary>
    public static B3Digest Empty { get; } = Compute(ReadOnlySpan<byte>.Empty);

    public static B3Digest FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length)
            throw new FormatException($"a BLAKE3 digest is {Length} bytes, got {bytes.Length}");
        return new B3Digest(
            BinaryPrimitives.ReadUInt64LittleEndian(bytes),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[24..]));
    }

    public static bool TryFromBytes(ReadOnlySpan<byte> bytes, out B3Digest digest)
    {
        if (bytes.Length != Length)
        {
            digest = default;
            return false;
        }
        digest = FromBytes(bytes);
        return true;
    }

    public static B3Digest FromByteString(ByteString bytes) => FromBytes(bytes.Span);

    /// <summary>BLAKE3-256 of <paramref name="data"/>.</summary>
    public static B3Digest Compute(ReadOnlySpan<byte> data) => Blake3Hasher.Hash(data);

    public void CopyTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, _w0);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], _w1);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], _w2);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], _w3);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Length];
        CopyTo(bytes);
        return bytes;
    }

    public ByteString ToByteString() => UnsafeByteOperations.UnsafeWrap(ToArray());

    public string ToHex()
    {
        Span<byte> bytes = stackalloc byte[Length];
        CopyTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <summary>The printed form used in logs and xattrs: <c>b3:</c> + standard base64.</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Length];
        CopyTo(bytes);
        return "b3:" + Convert.ToBase64String(bytes);
    }

    /// <summary>Writes the printed form (<c>b3:</c> + base64, 47 bytes) as ASCII without allocating.</summary>
    public int FormatUtf8(Span<byte> destination)
    {
        Span<byte> bytes = stackalloc byte[Length];
        CopyTo(bytes);
        "b3:"u8.CopyTo(destination);
        System.Buffers.Text.Base64.EncodeToUtf8(bytes, destination[3..], out _, out int written);
        return 3 + written;
    }

    /// <summary>Length of <see cref="FormatUtf8"/>'s output.</summary>
    public const int PrintedLength = 3 + 44;

    public static bool TryParse(string text, out B3Digest digest)
    {
        digest = default;
        if (!text.StartsWith("b3:", StringComparison.Ordinal))
            return false;
        Span<byte> bytes = stackalloc byte[48];
        if (!Convert.TryFromBase64String(text[3..], bytes, out int written) || written != Length)
            return false;
        digest = FromBytes(bytes[..Length]);
        return true;
    }

    public bool Equals(B3Digest other) =>
        _w0 == other._w0 && _w1 == other._w1 && _w2 == other._w2 && _w3 == other._w3;

    public override bool Equals(object? obj) => obj is B3Digest other && Equals(other);

    // The digest is already uniformly distributed: one word is a good hash.
    public override int GetHashCode() => (int)_w0 ^ (int)(_w0 >> 32);

    public static bool operator ==(B3Digest left, B3Digest right) => left.Equals(right);
    public static bool operator !=(B3Digest left, B3Digest right) => !left.Equals(right);
}
