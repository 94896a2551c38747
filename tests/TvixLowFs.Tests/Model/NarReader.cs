using System.Buffers.Binary;

namespace TvixLowFs.Tests.Model;

/// <summary>A NAR tree as the tests see it (test-only; the product only writes NARs).</summary>
internal abstract record NarTree;

internal sealed record NarRegular(bool Executable, byte[] Contents) : NarTree;

internal sealed record NarSymlink(byte[] Target) : NarTree;

internal sealed record NarDirectory(IReadOnlyList<(byte[] Name, NarTree Node)> Entries) : NarTree;

/// <summary>
/// A small, strict NAR parser used to check the writer: every length, every padding byte and
/// every keyword is checked, and trailing bytes are an error.
/// </summary>
internal static class NarReader
{
    public static NarTree Read(byte[] nar)
    {
        int at = 0;
        Expect(nar, ref at, "nix-archive-1");
        var node = ReadNode(nar, ref at);
        if (at != nar.Length)
            throw new FormatException($"{nar.Length - at} bytes after the archive");
        return node;
    }

    private static NarTree ReadNode(byte[] nar, ref int at)
    {
        Expect(nar, ref at, "(");
        Expect(nar, ref at, "type");
        string type = ReadText(nar, ref at);
        switch (type)
        {
            case "regular":
            {
                bool executable = false;
                string next = ReadText(nar, ref at);
                if (next == "executable")
                {
                    executable = true;
                    if (ReadString(nar, ref at).Length != 0)
                        throw new FormatException("the executable marker is followed by a non-empty string");
                    next = ReadText(nar, ref at);
                }
                if (next != "contents")
                    throw new FormatException($"expected contents, got {next}");
                byte[] contents = ReadString(nar, ref at);
                Expect(nar, ref at, ")");
                return new NarRegular(executable, contents);
            }
            case "symlink":
            {
                Expect(nar, ref at, "target");
                byte[] target = ReadString(nar, ref at);
                Expect(nar, ref at, ")");
                return new NarSymlink(target);
            }
            case "directory":
            {
                var entries = new List<(byte[], NarTree)>();
                while (true)
                {
                    string next = ReadText(nar, ref at);
                    if (next == ")")
                        return new NarDirectory(entries);
                    if (next != "entry")
                        throw new FormatException($"expected entry or ), got {next}");
                    Expect(nar, ref at, "(");
                    Expect(nar, ref at, "name");
                    byte[] name = ReadString(nar, ref at);
                    Expect(nar, ref at, "node");
                    var child = ReadNode(nar, ref at);
                    Expect(nar, ref at, ")");
                    entries.Add((name, child));
                }
            }
            default:
                throw new FormatException($"unknown node type {type}");
        }
    }

    private static void Expect(byte[] nar, ref int at, string token)
    {
        string actual = ReadText(nar, ref at);
        if (actual != token)
            throw new FormatException($"expected {token}, got {actual}");
    }

    private static string ReadText(byte[] nar, ref int at) => System.Text.Encoding.Latin1.GetString(ReadString(nar, ref at));

    private static byte[] ReadString(byte[] nar, ref int at)
    {
        if (nar.Length - at < 8)
            throw new FormatException("truncated length");
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(nar.AsSpan(at));
        at += 8;
        if (length > (ulong)(nar.Length - at))
            throw new FormatException("truncated string");
        byte[] bytes = nar.AsSpan(at, (int)length).ToArray();
        at += (int)length;
        int padding = (int)((8 - (length % 8)) % 8);
        if (nar.Length - at < padding)
            throw new FormatException("truncated padding");
        for (int i = 0; i < padding; i++)
        {
            if (nar[at + i] != 0)
                throw new FormatException("non-zero padding");
        }
        at += padding;
        return bytes;
    }
}
