using System.Text;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using StorePath = TvixLowFs.Store.Model.StorePath;
using TvixLowFs.Store.Local;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Reliability;

/// <summary>What a mount must answer for one hostile store path.</summary>
internal enum HostileProbe
{
    /// <summary>Listing the store path's root directory (and looking up inside it) gives EIO.</summary>
    ListDirectory,

    /// <summary>The file <c>f</c> below the root stats, but opening it gives EIO.</summary>
    OpenFile,

    /// <summary>Looking the store path up gives ENOENT.</summary>
    LookupMissing,

    /// <summary>
    /// The child directory <c>sub</c> (whose node's size is not its Directory's) cannot be listed
    /// or looked into: EIO, whether the parent's fetch or the child's finds the mismatch.
    /// </summary>
    ListChild,
}

/// <summary>
/// One store path whose data breaks a rule: its basename, how a mount must answer, and the digest
/// (printed <c>b3:…</c>, or the store path hash in hex) the mount's warning line must name.
/// </summary>
internal sealed record HostileCase(string Name, string Basename, HostileProbe Probe, string? WarnedDigest, string? OrWarnedDigest = null);

/// <summary>
/// Store objects that break every rule a store may break, as raw bytes keyed by what they are
/// asked for (so a Directory may be served under a digest it does not hash to): installed file by
/// file into a local store (bypassing its put validation), or served by
/// <see cref="HostileStoreDaemonDouble"/>.
/// </summary>
internal sealed class HostileCatalogue
{
    public static readonly byte[] GoodContent = Encoding.UTF8.GetBytes("good file contents\n");
    public static readonly byte[] TwelveBytes = Encoding.UTF8.GetBytes("twelve bytes");

    public Dictionary<B3Digest, byte[]> Blobs { get; } = [];

    /// <summary>What a Directory request for the digest gets (not necessarily hashing to it).</summary>
    public Dictionary<B3Digest, Directory> Directories { get; } = [];

    /// <summary>PathInfos by the 20-byte hash they are asked for.</summary>
    public Dictionary<StorePathHash, PathInfo> PathInfos { get; } = [];

    public List<HostileCase> Cases { get; } = [];

    /// <summary>A healthy store path (directory with file <c>f</c>) the mount must keep serving.</summary>
    public string GoodBasename { get; }

    /// <summary>A healthy store path whose file <c>f</c> is the blob the "file-size" case claims a wrong size for.</summary>
    public string TwelveBytesBasename { get; }

    /// <summary>A blob whose bytes do not hash to its digest (served only by a daemon; a local store trusts its blob files).</summary>
    public B3Digest LyingBlob { get; }

    public HostileCatalogue(string seed, bool withLyingBlob)
    {
        B3Digest good = AddBlob(GoodContent);
        B3Digest twelve = AddBlob(TwelveBytes);
        var goodLeaf = new Directory { Files = { FileNode("f", good, GoodContent.Length) } };
        B3Digest goodLeafDigest = AddDirectory(goodLeaf);
        GoodBasename = AddRoot("good", seed, new Directory
        {
            Directories = { new DirectoryNode { Name = Bytes("sub"), Digest = goodLeafDigest.ToByteString(), Size = 1 } },
            Files = { FileNode("f", good, GoodContent.Length) },
        });

        DirectoryNode Sub(string name, ulong size = 1) => new() { Name = Bytes(name), Digest = goodLeafDigest.ToByteString(), Size = size };

        AddBrokenDirectory("dot-dot", seed, new Directory { Directories = { Sub("..") } });
        AddBrokenDirectory("dot", seed, new Directory { Directories = { Sub(".") } });
        AddBrokenDirectory("slash", seed, new Directory { Files = { FileNode("etc/passwd", good, GoodContent.Length) } });
        AddBrokenDirectory("absolute", seed, new Directory { Directories = { Sub("/etc") } });
        AddBrokenDirectory("nul", seed, new Directory { Files = { FileNode("f\0x", good, GoodContent.Length) } });
        AddBrokenDirectory("empty-name", seed, new Directory { Files = { FileNode("", good, GoodContent.Length) } });
        AddBrokenDirectory("duplicate", seed, new Directory { Files = { FileNode("f", good, GoodContent.Length), FileNode("f", good, GoodContent.Length) } });
        AddBrokenDirectory("duplicate-across", seed, new Directory { Directories = { Sub("f") }, Files = { FileNode("f", good, GoodContent.Length) } });
        AddBrokenDirectory("unsorted", seed, new Directory { Files = { FileNode("g", good, GoodContent.Length), FileNode("f", good, GoodContent.Length) } });
        AddBrokenDirectory("short-digest", seed, new Directory
        {
            Files = { new FileNode { Name = Bytes("f"), Digest = ByteString.CopyFrom(good.ToArray()[..31]), Size = (ulong)GoodContent.Length } },
        });
        var childSize = new Directory { Directories = { Sub("sub", size: 99) } };
        Cases.Add(new HostileCase("child-size", AddRoot("child-size", seed, childSize), HostileProbe.ListChild,
            DirectoryRules.Digest(childSize).ToString(), goodLeafDigest.ToString()));
        AddBrokenDirectory("nul-target", seed, new Directory { Symlinks = { new SymlinkNode { Name = Bytes("l"), Target = Bytes("a\0b") } } });

        // A Directory asked for by one digest and answered with another Directory's bytes.
        var asked = new Directory { Files = { FileNode("asked", good, GoodContent.Length) } };
        var served = new Directory { Files = { FileNode("f", good, GoodContent.Length) }, Symlinks = { new SymlinkNode { Name = Bytes("passwd"), Target = Bytes("/etc/passwd") } } };
        B3Digest askedDigest = DirectoryRules.Digest(asked);
        Directories[askedDigest] = served;
        Cases.Add(new HostileCase("wrong-directory-hash", AddRootNode("wrong-directory-hash", seed,
            new Node { Directory = new DirectoryNode { Name = Bytes(Basename("wrong-directory-hash", seed)), Digest = askedDigest.ToByteString(), Size = 1 } }),
            HostileProbe.ListDirectory, askedDigest.ToString()));

        // A file node whose size is not its blob's, and a healthy one with the same blob.
        TwelveBytesBasename = AddRoot("twelve-bytes", seed, new Directory { Files = { FileNode("f", twelve, TwelveBytes.Length) } });
        Cases.Add(new HostileCase("file-size", AddRoot("file-size", seed, new Directory { Files = { FileNode("f", twelve, 5) } }),
            HostileProbe.OpenFile, twelve.ToString()));

        if (withLyingBlob)
        {
            byte[] claimed = Encoding.UTF8.GetBytes("the bytes the digest names\n");
            byte[] sent = Encoding.UTF8.GetBytes("other bytes, same length!!\n");
            LyingBlob = B3Digest.Compute(claimed);
            Blobs[LyingBlob] = sent;
            Cases.Add(new HostileCase("blob-hash", AddRoot("blob-hash", seed, new Directory { Files = { FileNode("f", LyingBlob, claimed.Length) } }),
                HostileProbe.OpenFile, LyingBlob.ToString()));
        }

        // A PathInfo stored under the right hash whose node carries another name.
        string lookedUp = Basename("name-mismatch", seed);
        string other = lookedUp[..StorePath.HashChars] + "-other-name";
        var mismatch = new PathInfo { Node = new Node { File = new FileNode { Name = Bytes(other), Digest = good.ToByteString(), Size = (ulong)GoodContent.Length } } };
        PathInfos[StorePath.ParseBasename(lookedUp).Hash] = mismatch;
        Cases.Add(new HostileCase("name-mismatch", lookedUp, HostileProbe.LookupMissing, null));
    }

    public static string Basename(string name, string seed) => Filesystem.TestTreeWriter.Basename(name, seed: seed + " " + name);

    private static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);

    private static FileNode FileNode(string name, B3Digest digest, long size) =>
        new() { Name = Bytes(name), Digest = digest.ToByteString(), Size = (ulong)size };

    private B3Digest AddBlob(byte[] content)
    {
        B3Digest digest = B3Digest.Compute(content);
        Blobs[digest] = content;
        return digest;
    }

    private B3Digest AddDirectory(Directory directory)
    {
        B3Digest digest = DirectoryRules.Digest(directory);
        Directories[digest] = directory;
        return digest;
    }

    private void AddBrokenDirectory(string name, string seed, Directory directory)
    {
        B3Digest digest = DirectoryRules.Digest(directory);
        Cases.Add(new HostileCase(name, AddRoot(name, seed, directory), HostileProbe.ListDirectory, digest.ToString()));
    }

    /// <summary>A store path whose root is <paramref name="root"/> (its node's size computed without validating).</summary>
    private string AddRoot(string name, string seed, Directory root)
    {
        B3Digest digest = AddDirectory(root);
        ulong size = (ulong)(root.Directories.Count + root.Files.Count + root.Symlinks.Count) + root.Directories.Aggregate(0UL, (sum, d) => sum + d.Size);
        string basename = Basename(name, seed);
        return AddRootNode(name, seed, new Node { Directory = new DirectoryNode { Name = Bytes(basename), Digest = digest.ToByteString(), Size = size } });
    }

    private string AddRootNode(string name, string seed, Node node)
    {
        string basename = Basename(name, seed);
        PathInfos[StorePath.ParseBasename(basename).Hash] = new PathInfo { Node = node };
        return basename;
    }

    /// <summary>
    /// Writes every object into a local store file by file, as a damaged disk or a hostile writer
    /// could leave it: directories under the digest they are asked for, whatever their bytes.
    /// </summary>
    public void InstallInto(LocalStore store)
    {
        foreach ((B3Digest digest, byte[] content) in Blobs)
            WriteFile(store.BlobPath(digest), content);
        foreach ((B3Digest digest, Directory directory) in Directories)
            WriteFile(store.DirectoryPath(digest), DirectoryEncoding.Canonical(directory));
        foreach ((StorePathHash hash, PathInfo pathInfo) in PathInfos)
            WriteFile(store.PathInfoPath(hash), pathInfo.ToByteArray());
    }

    private static void WriteFile(string path, byte[] bytes)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }
}
