using NUnit.Framework;
using System.Security.Cryptography;
using System.Text;

namespace TvixLowFs.Tests.Store;

/// <summary>
/// A deliberately plain NAR serialiser written from the format description, independent of
/// NarWriter: builds the whole archive in memory so tests can hash it. Not for big inputs.
/// </summary>
public static class NaiveNar
{
    public static byte[] Of(TreeNode tree)
    {
        var output = new MemoryStream();
        Str(output, "nix-archive-1");
        Node(output, tree);
        return output.ToArray();
    }

    /// <summary>The NAR of a path on disk, read with lstat semantics like nix-store --add.</summary>
    public static byte[] OfPath(string path) => Of(ReadTree(path));

    public static TreeNode ReadTree(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is { } target)
            return new TreeSymlink(target);
        if (info.Attributes.HasFlag(FileAttributes.Directory))
        {
            var entries = new Dictionary<string, TreeNode>(StringComparer.Ordinal);
            foreach (string child in System.IO.Directory.EnumerateFileSystemEntries(path))
                entries[Path.GetFileName(child)] = ReadTree(child);
            return new TreeDirectory(entries);
        }
        // Nix looks at the owner's execute bit only.
        return new TreeFile(File.ReadAllBytes(path), (info.UnixFileMode & UnixFileMode.UserExecute) != 0);
    }

    public static string Sha256Hex(byte[] nar) => Convert.ToHexStringLower(SHA256.HashData(nar));

    private static void Node(Stream output, TreeNode tree)
    {
        Str(output, "(");
        Str(output, "type");
        switch (tree)
        {
            case TreeFile file:
                Str(output, "regular");
                if (file.Executable)
                {
                    Str(output, "executable");
                    Str(output, "");
                }
                Str(output, "contents");
                Str(output, file.Contents);
                break;
            case TreeSymlink link:
                Str(output, "symlink");
                Str(output, "target");
                Str(output, link.Target);
                break;
            case TreeDirectory directory:
                Str(output, "directory");
                foreach ((string name, TreeNode child) in directory.Sorted())
                {
                    Str(output, "entry");
                    Str(output, "(");
                    Str(output, "name");
                    Str(output, name);
                    Str(output, "node");
                    Node(output, child);
                    Str(output, ")");
                }
                break;
        }
        Str(output, ")");
    }

    private static void Str(Stream output, string text) => Str(output, Encoding.UTF8.GetBytes(text));

    private static void Str(Stream output, byte[] bytes)
    {
        output.Write(BitConverter.GetBytes((ulong)bytes.Length)); // little-endian on x64
        output.Write(bytes);
        output.Write(new byte[(8 - bytes.Length % 8) % 8]);
    }
}
