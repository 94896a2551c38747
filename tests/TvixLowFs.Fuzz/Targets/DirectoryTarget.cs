using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Fuzz;

/// <summary>
/// A Directory message from a store or a daemon: protobuf decode (InvalidProtocolBufferException)
/// then <see cref="DirectoryRules.Validate"/> (StoreValidationException). An accepted Directory must
/// also survive what the product does next: digest, canonical re-encoding, child lookup by name.
/// </summary>
public sealed class DirectoryTarget : FuzzTarget
{
    public override string Name => "directory";

    public override bool Run(byte[] input)
    {
        Directory directory;
        try
        {
            directory = Directory.Parser.ParseFrom(input);
            DirectoryRules.Validate(directory);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or StoreValidationException)
        {
            return false;
        }

        B3Digest digest = DirectoryRules.Digest(directory);
        byte[] canonical = DirectoryEncoding.Canonical(directory);
        if (canonical.Length != DirectoryEncoding.CanonicalSize(directory))
            throw new BrokenPromiseException("CanonicalSize differs from the canonical encoding's length");
        Directory again = VerifiedDirectory.Decode(canonical, digest).Message;
        if (!again.Equals(WithoutUnknownFields(directory)))
            throw new BrokenPromiseException("the canonical encoding does not decode to the same Directory (less unknown fields)");
        if (!canonical.AsSpan().SequenceEqual(WithoutUnknownFields(directory).ToByteArray()))
            throw new BrokenPromiseException("the canonical encoding is not protobuf's encoding of the Directory less unknown fields");
        ulong size = DirectoryRules.Size(directory);
        if (size < (ulong)(directory.Directories.Count + directory.Files.Count + directory.Symlinks.Count))
            throw new BrokenPromiseException("Size is smaller than the number of entries");
        DirectoryChild[] children = DirectoryChildren.Of(directory).ToArray();
        for (int i = 0; i < children.Length; i++)
        {
            if (i > 0 && children[i - 1].Name.Span.SequenceCompareTo(children[i].Name.Span) >= 0)
                throw new BrokenPromiseException("the merged children are not strictly sorted");
            if (!DirectoryChildren.Of(directory).TryFind(children[i].Name.Span, out DirectoryChild found) || found.Kind != children[i].Kind)
                throw new BrokenPromiseException("a child is not found by its own name");
        }
        DirectoryChildren.Of(directory).ToNodes();
        return true;
    }

    /// <summary>The Directory as the canonical encoding sees it: unknown fields, its own and its nodes', are dropped.</summary>
    private static Directory WithoutUnknownFields(Directory directory)
    {
        var known = new Directory();
        known.Directories.AddRange(directory.Directories.Select(d => new DirectoryNode { Name = d.Name, Digest = d.Digest, Size = d.Size }));
        known.Files.AddRange(directory.Files.Select(f => new FileNode { Name = f.Name, Digest = f.Digest, Size = f.Size, Executable = f.Executable }));
        known.Symlinks.AddRange(directory.Symlinks.Select(l => new SymlinkNode { Name = l.Name, Target = l.Target }));
        return known;
    }

    public override IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        var digest = ByteString.CopyFrom(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
        var child = new Directory();
        child.Files.Add(new FileNode { Name = ByteString.CopyFromUtf8("inner"), Digest = digest, Size = 3 });
        var full = new Directory();
        full.Directories.Add(new DirectoryNode { Name = ByteString.CopyFromUtf8("bin"), Digest = digest, Size = DirectoryRules.Size(child) });
        full.Directories.Add(new DirectoryNode { Name = ByteString.CopyFromUtf8("share"), Digest = digest, Size = 7 });
        full.Files.Add(new FileNode { Name = ByteString.CopyFromUtf8("README"), Digest = digest, Size = 12 });
        full.Files.Add(new FileNode { Name = ByteString.CopyFromUtf8("tool"), Digest = digest, Size = 1 << 20, Executable = true });
        full.Symlinks.Add(new SymlinkNode { Name = ByteString.CopyFromUtf8("link"), Target = ByteString.CopyFromUtf8("../lib/x") });
        yield return ("valid-full", full.ToByteArray());
        yield return ("valid-one-file", child.ToByteArray());
        yield return ("valid-empty", []);

        var unsorted = full.Clone();
        unsorted.Files.Add(new FileNode { Name = ByteString.CopyFromUtf8("AAA"), Digest = digest, Size = 1 });
        yield return ("near-unsorted", unsorted.ToByteArray());
        var duplicate = full.Clone();
        duplicate.Symlinks.Add(new SymlinkNode { Name = ByteString.CopyFromUtf8("tool"), Target = ByteString.CopyFromUtf8("x") });
        yield return ("near-duplicate-across", duplicate.ToByteArray());
        var shortDigest = child.Clone();
        shortDigest.Files[0].Digest = ByteString.CopyFrom(new byte[31]);
        yield return ("near-short-digest", shortDigest.ToByteArray());
        var bigSize = new Directory();
        bigSize.Directories.Add(new DirectoryNode { Name = ByteString.CopyFromUtf8("a"), Digest = digest, Size = ulong.MaxValue });
        bigSize.Directories.Add(new DirectoryNode { Name = ByteString.CopyFromUtf8("b"), Digest = digest, Size = 2 });
        yield return ("near-size-overflow", bigSize.ToByteArray());
        var dotDot = new Directory();
        dotDot.Symlinks.Add(new SymlinkNode { Name = ByteString.CopyFromUtf8(".."), Target = ByteString.CopyFromUtf8("/etc") });
        yield return ("near-dot-dot", dotDot.ToByteArray());
    }
}
