using System.Text;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>A tree to put into a store: files, symlinks, directories, and deliberate holes.</summary>
internal abstract record TreeNode;

/// <summary>A file; <paramref name="DeclaredSize"/> makes its FileNode lie about the size (corrupt metadata).</summary>
internal sealed record FileSpec(byte[] Content, bool Executable = false, bool StoreBlob = true, ulong? DeclaredSize = null) : TreeNode
{
    public static FileSpec Text(string text, bool executable = false) => new(Encoding.UTF8.GetBytes(text), executable);
}

internal sealed record LinkSpec(string Target) : TreeNode;

internal sealed record DirSpec(params (string Name, TreeNode Node)[] Children) : TreeNode;

/// <summary>A directory node whose Directory message is not in the store.</summary>
internal sealed record MissingDirSpec(ulong Size = 3) : TreeNode;

/// <summary>Puts <see cref="TreeNode"/> trees into store services, as the store's own put rules allow.</summary>
internal sealed class TestTreeWriter(StoreServices store)
{
    /// <summary>The basename <c>&lt;hash&gt;-&lt;name&gt;</c> of a store path whose hash is derived from <paramref name="seed"/>.</summary>
    public static string Basename(string name, string? seed = null)
    {
        byte[] hash = B3Digest.Compute(Encoding.UTF8.GetBytes("store path " + (seed ?? name))).ToArray()[..StorePathHash.Length];
        return NixBase32.Encode(hash) + "-" + name;
    }

    /// <summary>Puts the tree and a PathInfo naming it; returns the basename.</summary>
    public async Task<string> AddStorePathAsync(string name, TreeNode tree, string? seed = null, string? nodeName = null)
    {
        string basename = Basename(name, seed);
        Node node = await PutAsync(tree, Encoding.UTF8.GetBytes(nodeName ?? basename));
        await store.PathInfos.PutAsync(new PathInfo { Node = node });
        return basename;
    }

    public async Task<Node> PutAsync(TreeNode tree, byte[] name)
    {
        switch (tree)
        {
            case FileSpec file:
            {
                B3Digest digest = B3Digest.Compute(file.Content);
                if (file.StoreBlob)
                {
                    BlobWriter writer = store.Blobs.OpenWrite();
                    await writer.WriteAsync(file.Content);
                    digest = await writer.CloseAsync();
                }
                return new Node { File = new FileNode { Name = ByteString.CopyFrom(name), Digest = digest.ToByteString(), Size = file.DeclaredSize ?? (ulong)file.Content.Length, Executable = file.Executable } };
            }
            case LinkSpec link:
                return new Node { Symlink = new SymlinkNode { Name = ByteString.CopyFrom(name), Target = ByteString.CopyFromUtf8(link.Target) } };
            case MissingDirSpec missing:
                return new Node { Directory = new DirectoryNode { Name = ByteString.CopyFrom(name), Digest = B3Digest.Compute(Encoding.UTF8.GetBytes("no such directory " + Guid.NewGuid())).ToByteString(), Size = missing.Size } };
            case DirSpec dir:
            {
                var directory = new Directory();
                foreach ((string childName, TreeNode child) in dir.Children.OrderBy(c => Encoding.UTF8.GetBytes(c.Name), ByteOrder.Instance))
                {
                    Node node = await PutAsync(child, Encoding.UTF8.GetBytes(childName));
                    switch (node.NodeCase)
                    {
                        case Node.NodeOneofCase.Directory: directory.Directories.Add(node.Directory); break;
                        case Node.NodeOneofCase.File: directory.Files.Add(node.File); break;
                        default: directory.Symlinks.Add(node.Symlink); break;
                    }
                }
                B3Digest digest = await store.Directories.PutAsync(directory);
                return new Node { Directory = new DirectoryNode { Name = ByteString.CopyFrom(name), Digest = digest.ToByteString(), Size = DirectoryRules.Size(directory) } };
            }
            default:
                throw new ArgumentException("unknown tree node", nameof(tree));
        }
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static ByteOrder Instance { get; } = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
