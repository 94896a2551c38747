using System.Security.Cryptography;
using CsCheck;
using NUnit.Framework;
using TvixLowFs.Store.Memory;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;

namespace TvixLowFs.Tests.BinaryCache.Nar;

/// <summary>
/// Random trees, written by the model's NarWriter, delivered in random slices (synchronously or
/// not), ingested and rendered back: the same bytes, the same SHA-256 and size. And random damage
/// to a valid NAR is either refused with an InvalidNarException or yields a NAR that renders back
/// to exactly the bytes read (never a crash, never a different archive).
/// </summary>
[TestFixture]
[CancelAfter(240_000)]
public sealed class NarIngestionProperties
{
    private abstract record Tree;

    private sealed record FileTree(bool Executable, byte[] Contents) : Tree;

    private sealed record SymlinkTree(byte[] Target) : Tree;

    private sealed record DirectoryTree(IReadOnlyList<(byte[] Name, Tree Node)> Entries) : Tree;

    private static readonly Gen<byte[]> Name = Gen.OneOf(
        Gen.Byte[1, 255].Array[1, 12],
        Gen.Char["ab.Z-_"].Array[1, 4].Select(c => System.Text.Encoding.ASCII.GetBytes(c)))
        .Where(n => NodeNames.IsValid(n));

    private static readonly Gen<Tree> Leaf = Gen.OneOf<Tree>(
        Gen.Select(Gen.Bool, Gen.Byte.Array[0, 300], (x, c) => (Tree)new FileTree(x, c)),
        Gen.Select(Gen.Bool, Gen.Int[0, 40_000], (x, n) => (Tree)new FileTree(x, Enumerable.Range(0, n).Select(i => (byte)(i * 7)).ToArray())),
        Gen.Byte[1, 255].Array[1, 60].Select(t => (Tree)new SymlinkTree(t)));

    private static Gen<Tree> TreeOf(int depth) => depth == 0
        ? Leaf
        : Gen.Frequency(
            (2, Leaf),
            (1, Gen.Select(Name, TreeOf(depth - 1)).Array[0, 6].Select(entries => (Tree)new DirectoryTree(
                entries.DistinctBy(e => Convert.ToHexString(e.Item1))
                    .OrderBy(e => e.Item1, Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b)))
                    .ToList()))));

    private static byte[] Write(Tree tree)
    {
        var output = new MemoryStream();
        var writer = new NarWriter(output);
        writer.WriteHeader();
        Write(writer, tree);
        return output.ToArray();
    }

    private static void Write(NarWriter writer, Tree tree)
    {
        switch (tree)
        {
            case FileTree file:
                writer.BeginFile(file.Executable, (ulong)file.Contents.Length);
                writer.WriteFileContents(file.Contents);
                writer.EndFile();
                break;
            case SymlinkTree symlink:
                writer.WriteSymlink(symlink.Target);
                break;
            case DirectoryTree directory:
                writer.BeginDirectory();
                foreach ((byte[] name, Tree node) in directory.Entries)
                {
                    writer.BeginEntry(name);
                    Write(writer, node);
                    writer.EndEntry();
                }
                writer.EndDirectory();
                break;
        }
    }

    [Test]
    public void RandomTreesRoundTrip() =>
        Gen.Select(TreeOf(4), Gen.Int[1, 5000], Gen.Bool).Sample((tree, chunk, yieldEachRead) =>
        {
            byte[] nar = Write(tree);
            var blobs = new MemoryBlobService();
            var directories = new MemoryDirectoryService();
            NarIngestResult result = new NarIngester(blobs, directories)
                .IngestAsync(new TricklingStream(nar, chunk, yieldEachRead, seed: chunk), (ulong)nar.Length).GetAwaiter().GetResult();
            Assert.That(result.NarSize, Is.EqualTo((ulong)nar.Length));
            Assert.That(result.NarSha256, Is.EqualTo(SHA256.HashData(nar)));
            Assert.That(StoredNar.RenderAsync(blobs, directories, result.Root).GetAwaiter().GetResult(), Is.EqualTo(nar));
        }, iter: 300);

    [Test]
    public void DamagedNarsAreRefusedOrRenderBackExactly() =>
        Gen.Select(TreeOf(3), Gen.Int[0, 100_000], Gen.Byte, Gen.Int[0, 3]).Sample((tree, where, value, mode) =>
        {
            byte[] nar = Write(tree);
            int at = where % nar.Length;
            byte[] damaged = mode switch
            {
                0 => [.. nar[..at], value, .. nar[(at + 1)..]],   // one byte changed
                1 => [.. nar[..at], .. nar[(at + 1)..]],          // one byte dropped
                2 => [.. nar[..at], value, .. nar[at..]],         // one byte inserted
                _ => nar[..at],                                   // cut short
            };
            var blobs = new MemoryBlobService();
            var directories = new MemoryDirectoryService();
            try
            {
                NarIngestResult result = new NarIngester(blobs, directories)
                    .IngestAsync(new MemoryStream(damaged), (ulong)nar.Length + 1).GetAwaiter().GetResult();
                Assert.That(StoredNar.RenderAsync(blobs, directories, result.Root).GetAwaiter().GetResult(), Is.EqualTo(damaged));
                Assert.That(result.NarSha256, Is.EqualTo(SHA256.HashData(damaged)));
            }
            catch (InvalidNarException e)
            {
                Assert.That(e.Message, Does.StartWith("invalid NAR: ").And.Match(@" at byte \d+$"));
            }
        }, iter: 2000);
}
