using System.Buffers;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Model;

/// <summary>
/// The canonical protobuf encoding of a Directory (field order, defaults omitted, unknown fields
/// dropped at every level): what stores keep and what <see cref="DirectoryRules.Digest"/> hashes.
/// Written here rather than by Google.Protobuf, which would write unknown fields back.
/// </summary>
public static class DirectoryEncoding
{
    /// <summary>
    /// The canonical encoding: what <c>ToByteArray</c> gives for a message without unknown fields.
    /// Unknown fields (ours or a nested node's) are never written, so they cannot change the digest.
    /// </summary>
    public static byte[] Canonical(Directory directory)
    {
        var bytes = new byte[CanonicalSize(directory)];
        WriteCanonical(directory, bytes);
        return bytes;
    }

    /// <summary>The length of <see cref="Canonical"/>.</summary>
    public static int CanonicalSize(Directory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        long total = 0;
        foreach (var node in directory.Directories)
            total += FieldSize(DirectoryNodeSize(node));
        foreach (var node in directory.Files)
            total += FieldSize(FileNodeSize(node));
        foreach (var node in directory.Symlinks)
            total += FieldSize(SymlinkNodeSize(node));
        if (total > Array.MaxLength)
            throw new StoreValidationException($"a Directory of {total} bytes is too large to encode");
        return (int)total;
    }

    /// <summary>Writes <see cref="Canonical"/> into <paramref name="destination"/>; returns the byte count.</summary>
    public static int WriteCanonical(Directory directory, Span<byte> destination)
    {
        int size = CanonicalSize(directory);
        if (destination.Length < size)
            throw new ArgumentException($"the canonical encoding needs {size} bytes, the destination holds {destination.Length}", nameof(destination));
        int at = 0;
        foreach (var node in directory.Directories)
        {
            WriteTag(destination, ref at, 1, WireLength);
            WriteVarint(destination, ref at, (ulong)DirectoryNodeSize(node));
            WriteBytesField(destination, ref at, 1, node.Name);
            WriteBytesField(destination, ref at, 2, node.Digest);
            WriteVarintField(destination, ref at, 3, node.Size);
        }
        foreach (var node in directory.Files)
        {
            WriteTag(destination, ref at, 2, WireLength);
            WriteVarint(destination, ref at, (ulong)FileNodeSize(node));
            WriteBytesField(destination, ref at, 1, node.Name);
            WriteBytesField(destination, ref at, 2, node.Digest);
            WriteVarintField(destination, ref at, 3, node.Size);
            WriteVarintField(destination, ref at, 4, node.Executable ? 1UL : 0UL);
        }
        foreach (var node in directory.Symlinks)
        {
            WriteTag(destination, ref at, 3, WireLength);
            WriteVarint(destination, ref at, (ulong)SymlinkNodeSize(node));
            WriteBytesField(destination, ref at, 1, node.Name);
            WriteBytesField(destination, ref at, 2, node.Target);
        }
        return at;
    }

    /// <summary>
    /// Whether <paramref name="bytes"/> are exactly <see cref="Canonical"/> of <paramref name="directory"/>
    /// (compared, not hashed: stored bytes that hash to their name need no second hash).
    /// </summary>
    public static bool IsCanonical(Directory directory, ReadOnlySpan<byte> bytes) =>
        CanonicalSize(directory) == bytes.Length && Use(directory, bytes, static (canonical, bytes) => canonical.SequenceEqual(bytes));

    internal delegate TResult CanonicalUse<TState, TResult>(ReadOnlySpan<byte> canonical, TState state) where TState : allows ref struct;

    /// <summary>
    /// Hands <see cref="Canonical"/> to <paramref name="use"/> without keeping it: on the stack when
    /// small, else in a pooled buffer (a digest or a comparison allocates nothing).
    /// </summary>
    internal static TResult Use<TState, TResult>(Directory directory, TState state, CanonicalUse<TState, TResult> use) where TState : allows ref struct
    {
        int size = CanonicalSize(directory);
        if (size <= 1024)
        {
            Span<byte> small = stackalloc byte[size];
            WriteCanonical(directory, small);
            return use(small, state);
        }
        byte[] rented = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            WriteCanonical(directory, rented);
            return use(rented.AsSpan(0, size), state);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private const int WireVarint = 0;
    private const int WireLength = 2;

    private static long BytesFieldSize(ByteString bytes) =>
        bytes.Length == 0 ? 0 : 1 + VarintSize((ulong)bytes.Length) + bytes.Length;

    private static long VarintFieldSize(ulong value) => value == 0 ? 0 : 1 + VarintSize(value);

    private static long FieldSize(long messageSize) => 1 + VarintSize((ulong)messageSize) + messageSize;

    private static long DirectoryNodeSize(DirectoryNode node) =>
        BytesFieldSize(node.Name) + BytesFieldSize(node.Digest) + VarintFieldSize(node.Size);

    private static long FileNodeSize(FileNode node) =>
        BytesFieldSize(node.Name) + BytesFieldSize(node.Digest) + VarintFieldSize(node.Size) + (node.Executable ? 2 : 0);

    private static long SymlinkNodeSize(SymlinkNode node) => BytesFieldSize(node.Name) + BytesFieldSize(node.Target);

    private static int VarintSize(ulong value)
    {
        int size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }
        return size;
    }

    private static void WriteTag(Span<byte> destination, ref int at, int field, int wireType) =>
        destination[at++] = (byte)((field << 3) | wireType);

    private static void WriteVarint(Span<byte> destination, ref int at, ulong value)
    {
        while (value >= 0x80)
        {
            destination[at++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[at++] = (byte)value;
    }

    private static void WriteBytesField(Span<byte> destination, ref int at, int field, ByteString bytes)
    {
        if (bytes.Length == 0)
            return;
        WriteTag(destination, ref at, field, WireLength);
        WriteVarint(destination, ref at, (ulong)bytes.Length);
        bytes.Span.CopyTo(destination[at..]);
        at += bytes.Length;
    }

    private static void WriteVarintField(Span<byte> destination, ref int at, int field, ulong value)
    {
        if (value == 0)
            return;
        WriteTag(destination, ref at, field, WireVarint);
        WriteVarint(destination, ref at, value);
    }
}
