using NUnit.Framework;
using System.Text;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Store;

/// <summary>A file tree described in memory: uploaded to stores, written to disk, serialised naively.</summary>
public abstract record TreeNode;

public sealed record TreeFile(byte[] Contents, bool Executable = false) : TreeNode
{
    public static TreeFile Text(string text, bool executable = false) => new(Encoding.UTF8.GetBytes(text), executable);
}

public sealed record TreeSymlink(string Target) : TreeNode;

public sealed record TreeDirectory(IReadOnlyDictionary<string, TreeNode> Entries) : TreeNode
{
    public static TreeDirectory Of(params (string Name, TreeNode Node)[] entries) =>
        new(entries.ToDictionary(e => e.Name, e => e.Node, StringComparer.Ordinal));

    /// <summary>Entries in NAR / Directory order: bytewise by UTF-8 name.</summary>
    public IEnumerable<KeyValuePair<string, TreeNode>> Sorted() =>
        Entries.OrderBy(e => Encoding.UTF8.GetBytes(e.Key), ByteOrder.Instance);
}

public sealed class ByteOrder : IComparer<byte[]>
{
    public static ByteOrder Instance { get; } = new();
    public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
}

public static class TestTrees
{
    public static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);

    /// <summary>A sample with every kind of entry: nested dirs, an empty dir, an empty file, an executable, symlinks.</summary>
    public static TreeDirectory Sample() => TreeDirectory.Of(
        ("a-file", TreeFile.Text("hello\n")),
        ("bin", TreeDirectory.Of(
            ("tool", TreeFile.Text("#!/bin/sh\necho hi\n", executable: true)),
            ("link-to-tool", new TreeSymlink("tool")))),
        ("empty-dir", TreeDirectory.Of()),
        ("empty-file", new TreeFile([])),
        ("nested", TreeDirectory.Of(
            ("deeper", TreeDirectory.Of(
                ("big", new TreeFile(Pattern(300_000))),
                ("same-as-a-file", TreeFile.Text("hello\n")))),
            ("Zebra", TreeFile.Text("capital letters sort first\n")))),
        ("dangling", new TreeSymlink("/nix/store/somewhereelse")));

    public static byte[] Pattern(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static async Task<B3Digest> PutBlobAsync(IBlobService blobs, ReadOnlyMemory<byte> data, int chunk = 65536)
    {
        await using BlobWriter writer = blobs.OpenWrite();
        for (int at = 0; at < data.Length; at += chunk)
            await writer.WriteAsync(data[at..Math.Min(data.Length, at + chunk)]);
        return await writer.CloseAsync();
    }

    /// <summary>Uploads a tree (blobs, then directories leaves first in one graph put) and returns its root node named <paramref name="name"/>.</summary>
    public static async Task<Node> UploadAsync(StoreServices store, TreeNode tree, string name = "")
    {
        if (tree is TreeDirectory directory)
        {
            await using IDirectoryPutter putter = store.Directories.BeginPut();
            DirectoryNode root = await UploadDirectoryAsync(store, putter, directory, name);
            B3Digest rootDigest = await putter.CloseAsync();
            Assert.That(rootDigest, Is.EqualTo(B3Digest.FromByteString(root.Digest)));
            return new Node { Directory = root };
        }
        return await UploadLeafAsync(store, tree, name);
    }

    private static async Task<Node> UploadLeafAsync(StoreServices store, TreeNode tree, string name) => tree switch
    {
        TreeFile file => new Node
        {
            File = new FileNode
            {
                Name = Bytes(name),
                Digest = (await PutBlobAsync(store.Blobs, file.Contents)).ToByteString(),
                Size = (ulong)file.Contents.Length,
                Executable = file.Executable,
            },
        },
        TreeSymlink link => new Node { Symlink = new SymlinkNode { Name = Bytes(name), Target = Bytes(link.Target) } },
        _ => throw new ArgumentException("not a leaf"),
    };

    private static async Task<DirectoryNode> UploadDirectoryAsync(StoreServices store, IDirectoryPutter putter, TreeDirectory tree, string name)
    {
        var directory = new Directory();
        foreach ((string childName, TreeNode child) in tree.Sorted())
        {
            if (child is TreeDirectory childDirectory)
                directory.Directories.Add(await UploadDirectoryAsync(store, putter, childDirectory, childName));
            else
            {
                Node leaf = await UploadLeafAsync(store, child, childName);
                if (leaf.File is not null)
                    directory.Files.Add(leaf.File);
                else
                    directory.Symlinks.Add(leaf.Symlink);
            }
        }
        B3Digest digest = await putter.PutAsync(directory);
        return new DirectoryNode { Name = Bytes(name), Digest = digest.ToByteString(), Size = DirectoryRules.Size(directory) };
    }

    /// <summary>Writes the tree to disk at <paramref name="path"/> (which must not exist).</summary>
    public static void Materialize(TreeNode tree, string path)
    {
        switch (tree)
        {
            case TreeFile file:
                File.WriteAllBytes(path, file.Contents);
                File.SetUnixFileMode(path, file.Executable
                    ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute
                    : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                break;
            case TreeSymlink link:
                File.CreateSymbolicLink(path, link.Target);
                break;
            case TreeDirectory directory:
                System.IO.Directory.CreateDirectory(path);
                foreach ((string name, TreeNode child) in directory.Entries)
                    Materialize(child, Path.Join(path, name));
                break;
        }
    }

    // Small builders for hand-made Directory messages in rejection tests.
    public static FileNode FileEntry(string name, ulong size = 1, byte[]? digest = null) =>
        new() { Name = Bytes(name), Digest = ByteString.CopyFrom(digest ?? B3Digest.Compute([1]).ToArray()), Size = size };

    public static SymlinkNode SymlinkEntry(string name, string target = "t") =>
        new() { Name = Bytes(name), Target = Bytes(target) };

    public static DirectoryNode DirectoryEntry(string name, Directory child) =>
        new() { Name = Bytes(name), Digest = DirectoryRules.Digest(child).ToByteString(), Size = DirectoryRules.Size(child) };
}
