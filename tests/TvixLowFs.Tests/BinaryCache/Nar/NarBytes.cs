using System.Buffers.Binary;
using System.Text;

namespace TvixLowFs.Tests.BinaryCache.Nar;

/// <summary>
/// Builds NAR byte streams token by token, valid or deliberately broken, written from the format
/// description (independent of the product's NarWriter): a string is a token, a byte[] a string of
/// those bytes, a <see cref="Raw"/> goes in as is (a bare length word, bad padding, garbage).
/// </summary>
internal static class NarBytes
{
    public sealed record Raw(byte[] Bytes);

    public static Raw Length(ulong length)
    {
        var word = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(word, length);
        return new Raw(word);
    }

    public static byte[] Of(params object[] parts)
    {
        var output = new MemoryStream();
        foreach (object part in parts)
        {
            switch (part)
            {
                case string token:
                    WriteString(output, Encoding.UTF8.GetBytes(token));
                    break;
                case byte[] bytes:
                    WriteString(output, bytes);
                    break;
                case Raw raw:
                    output.Write(raw.Bytes);
                    break;
                default:
                    throw new ArgumentException($"cannot encode {part.GetType()}");
            }
        }
        return output.ToArray();
    }

    /// <summary>The tokens of a directory entry around <paramref name="node"/>'s tokens.</summary>
    public static object[] EntryOf(object name, params object[] node) =>
        ["entry", "(", "name", name, "node", .. node, ")"];

    public static object[] FileOf(string contents, bool executable = false) =>
        executable
            ? ["(", "type", "regular", "executable", "", "contents", contents, ")"]
            : ["(", "type", "regular", "contents", contents, ")"];

    public static object[] SymlinkOf(object target) => ["(", "type", "symlink", "target", target, ")"];

    public static object[] DirectoryOf(params object[][] entries) =>
        ["(", "type", "directory", .. entries.SelectMany(e => e), ")"];

    public static byte[] Archive(params object[] node) => Of(["nix-archive-1", .. node]);

    private static void WriteString(Stream output, byte[] bytes)
    {
        Span<byte> word = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(word, (ulong)bytes.Length);
        output.Write(word);
        output.Write(bytes);
        output.Write(new byte[(8 - bytes.Length % 8) % 8]);
    }
}
