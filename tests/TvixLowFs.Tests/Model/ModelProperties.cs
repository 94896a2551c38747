using System.Text;
using CsCheck;
using Google.Protobuf;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;
using StorePath = TvixLowFs.Store.Model.StorePath;

namespace TvixLowFs.Tests.Model;

/// <summary>
/// Property tests (issue 6 point 6): hostile bytes never make the decoders and validators throw
/// anything but their own errors, and the round trips hold. Sized to run in a few seconds.
/// </summary>
[TestFixture]
public sealed class ModelProperties
{
    private static readonly Gen<byte[]> RandomBytes = Gen.Byte.Array[0, 160];

    // Few, short names so that duplicates, disorder, "." and ".." and bad bytes all happen often.
    private static readonly Gen<ByteString> SmallName = Gen.OneOf(
        Gen.Char["ab./\0"].Array[0, 3].Select(c => ByteString.CopyFrom(Encoding.UTF8.GetBytes(c))),
        Gen.Const(ByteString.CopyFrom(Enumerable.Repeat((byte)'n', 256).ToArray())),
        Gen.Const(ByteString.CopyFrom(Enumerable.Repeat((byte)'n', 255).ToArray())));

    private static readonly Gen<ByteString> SomeDigest = Gen.Frequency(
        (8, Gen.Const(ByteString.CopyFrom(Enumerable.Repeat((byte)0xAB, 32).ToArray()))),
        (1, Gen.Byte.Array[0, 40].Select(ByteString.CopyFrom)));

    private static readonly Gen<ulong> SomeSize = Gen.Frequency(
        (6, Gen.ULong[0, 100]),
        (1, Gen.Const(ulong.MaxValue)),
        (1, Gen.ULong));

    private static readonly Gen<Directory> StructuredDirectory = Gen.Select(
        Gen.Select(SmallName, SomeDigest, SomeSize, (n, d, s) => new DirectoryNode { Name = n, Digest = d, Size = s }).Array[0, 4],
        Gen.Select(SmallName, SomeDigest, SomeSize, Gen.Bool, (n, d, s, x) => new FileNode { Name = n, Digest = d, Size = s, Executable = x }).Array[0, 4],
        Gen.Select(SmallName, Gen.Byte[0, 3].Array[0, 3], (n, t) => new SymlinkNode { Name = n, Target = ByteString.CopyFrom(t) }).Array[0, 4],
        (directories, files, symlinks) =>
        {
            var directory = new Directory();
            directory.Directories.AddRange(directories);
            directory.Files.AddRange(files);
            directory.Symlinks.AddRange(symlinks);
            return directory;
        });

    // The encoding of a structured Directory with one byte changed and maybe cut short.
    private static readonly Gen<byte[]> MutatedDirectoryBytes = Gen.Select(StructuredDirectory, Gen.Int[0, 1000], Gen.Byte, Gen.Int[0, 1000],
        (directory, at, value, cut) =>
        {
            byte[] bytes = directory.ToByteArray();
            if (bytes.Length == 0)
                return bytes;
            bytes[at % bytes.Length] = value;
            return cut % 4 == 0 ? bytes[..(cut % bytes.Length)] : bytes;
        });

    private static int Bytewise(ByteString a, ByteString b) => a.Span.SequenceCompareTo(b.Span);

    // An independent statement of the rules of PROTOCOL.md, to compare Validate against.
    private static bool IsValidByTheRules(Directory d)
    {
        bool SortedStrictly(IReadOnlyList<ByteString> names) =>
            Enumerable.Range(1, Math.Max(0, names.Count - 1)).All(i => Bytewise(names[i - 1], names[i]) < 0);
        bool NameOk(ByteString n) =>
            n.Length is >= 1 and <= 255 && n.ToStringUtf8() is not ("." or "..") && !n.Span.Contains((byte)'/') && !n.Span.Contains((byte)0);

        var all = d.Directories.Select(n => n.Name).Concat(d.Files.Select(n => n.Name)).Concat(d.Symlinks.Select(n => n.Name)).ToList();
        if (!all.All(NameOk))
            return false;
        if (!SortedStrictly(d.Directories.Select(n => n.Name).ToList()) || !SortedStrictly(d.Files.Select(n => n.Name).ToList())
            || !SortedStrictly(d.Symlinks.Select(n => n.Name).ToList()))
            return false;
        if (all.Select(n => Convert.ToHexString(n.Span)).Distinct().Count() != all.Count)
            return false;
        if (!d.Directories.All(n => n.Digest.Length == 32) || !d.Files.All(n => n.Digest.Length == 32))
            return false;
        if (!d.Symlinks.All(n => n.Target.Length > 0 && !n.Target.Span.Contains((byte)0)))
            return false;
        // Sizes the kernel can represent: each node's and the recursive sum at most 2^63 - 1.
        if (!d.Directories.All(n => n.Size <= long.MaxValue) || !d.Files.All(n => n.Size <= long.MaxValue))
            return false;
        var size = new System.Numerics.BigInteger(all.Count);
        foreach (var n in d.Directories)
            size += n.Size;
        return size <= long.MaxValue;
    }

    /// <summary>Checks one decoded Directory; returns whether it was valid.</summary>
    private static bool ExerciseDirectory(Directory directory)
    {
        // Digest and canonical encoding work on any decoded message, valid or not.
        var digest = DirectoryRules.Digest(directory);
        Assert.That(digest, Is.EqualTo(B3Digest.Compute(DirectoryEncoding.Canonical(directory))));
        var withoutUnknownFields = Directory.Parser.WithDiscardUnknownFields(true).ParseFrom(directory.ToByteArray());
        // (SequenceEqual: NUnit's collection comparison boxes every byte and would dominate the run time.)
        Assert.That(DirectoryEncoding.Canonical(directory).AsSpan().SequenceEqual(withoutUnknownFields.ToByteArray()), Is.True);

        bool valid;
        try
        {
            DirectoryRules.Validate(directory);
            valid = true;
        }
        catch (StoreValidationException)
        {
            valid = false;
        }
        Assert.That(valid, Is.EqualTo(IsValidByTheRules(directory)), () => directory.ToString());
        if (!valid)
            return false;

        var children = DirectoryChildren.Of(directory).ToArray();
        for (int i = 1; i < children.Length; i++)
            Assert.That(Bytewise(children[i - 1].Name, children[i].Name), Is.LessThan(0));
        foreach (var child in children)
        {
            Assert.That(DirectoryChildren.Of(directory).TryFind(child.Name.Span, out var found), Is.True);
            Assert.That(found.Kind, Is.EqualTo(child.Kind));
        }
        var rebuilt = DirectoryRules.FromNodes(DirectoryChildren.Of(directory).ToNodes());
        Assert.That(DirectoryRules.Digest(rebuilt), Is.EqualTo(digest));
        return true;
    }

    [Test]
    public void RandomBytes_DecodedAsDirectory_OnlyFailWithOwnErrors() =>
        RandomBytes.Sample(bytes =>
        {
            Directory directory;
            try
            {
                directory = Directory.Parser.ParseFrom(bytes);
            }
            catch (InvalidProtocolBufferException)
            {
                return;
            }
            _ = ExerciseDirectory(directory);
        }, iter: 3000);

    [Test]
    public void StructuredDirectories_AreValidatedExactlyByTheRules()
    {
        int valid = 0, invalid = 0;
        StructuredDirectory.Sample(directory =>
        {
            if (ExerciseDirectory(directory))
                Interlocked.Increment(ref valid);
            else
                Interlocked.Increment(ref invalid);
        }, iter: 3000);
        // The generator is only useful if it produces both kinds. Valid ones are about 1–2% of a random
        // seed's 3,000 (29 were seen once): a floor of 10 keeps the check without a seed-dependent failure.
        Assert.That(valid, Is.GreaterThan(10));
        Assert.That(invalid, Is.GreaterThan(10));
    }

    [Test]
    public void MutatedDirectoryEncodings_OnlyFailWithOwnErrors() =>
        MutatedDirectoryBytes.Sample(bytes =>
        {
            Directory directory;
            try
            {
                directory = Directory.Parser.ParseFrom(bytes);
            }
            catch (InvalidProtocolBufferException)
            {
                return;
            }
            _ = ExerciseDirectory(directory);
        }, iter: 3000);

    private static readonly Gen<PathInfo> StructuredPathInfo = Gen.Select(
        Gen.OneOf(
            Gen.Const("00bgd045z0d4icpbc2yyz4gx48ak44la-hello"),
            Gen.Const("00bgd045z0d4icpbc2yyz4gx48ak44le-hello"),
            Gen.Const("hello"),
            Gen.Const("")),
        Gen.Int[0, 3],
        SomeDigest,
        Gen.Int[15, 22].Array[0, 3],
        Gen.Int[-1, 33],
        (name, kind, digest, references, narSha256) =>
        {
            var nameBytes = ByteString.CopyFromUtf8(name);
            var pathInfo = new PathInfo
            {
                Node = kind switch
                {
                    0 => new Node { Directory = new DirectoryNode { Name = nameBytes, Digest = digest } },
                    1 => new Node { File = new FileNode { Name = nameBytes, Digest = digest } },
                    2 => new Node { Symlink = new SymlinkNode { Name = nameBytes, Target = digest } },
                    _ => null,
                },
            };
            foreach (int length in references)
                pathInfo.References.Add(ByteString.CopyFrom(new byte[length]));
            if (narSha256 >= 0)
                pathInfo.Narinfo = new NARInfo { NarSha256 = ByteString.CopyFrom(new byte[narSha256]) };
            return pathInfo;
        });

    private static void ExercisePathInfo(PathInfo pathInfo)
    {
        try
        {
            var storePath = PathInfoRules.Validate(pathInfo);
            Assert.That(storePath.BasenameEquals(PathInfoRules.NodeName(pathInfo.Node).Span), Is.True);
            Assert.That(pathInfo.References.All(r => r.Length == 20), Is.True);
            Assert.That(pathInfo.Narinfo is null || pathInfo.Narinfo.NarSha256.Length == 32, Is.True);
            Assert.DoesNotThrow(() => CastoreNode.FromProto(pathInfo.Node));
            Assert.That(PathInfo.Parser.ParseFrom(pathInfo.ToByteArray()), Is.EqualTo(pathInfo));
        }
        catch (StoreValidationException)
        {
        }
    }

    [Test]
    public void RandomBytes_DecodedAsPathInfo_OnlyFailWithOwnErrors() =>
        RandomBytes.Sample(bytes =>
        {
            PathInfo pathInfo;
            try
            {
                pathInfo = PathInfo.Parser.ParseFrom(bytes);
            }
            catch (InvalidProtocolBufferException)
            {
                return;
            }
            ExercisePathInfo(pathInfo);
        }, iter: 3000);

    [Test]
    public void StructuredPathInfos_AreValidOnlyWhenEveryRuleHolds() =>
        StructuredPathInfo.Sample(pathInfo =>
        {
            bool expected = pathInfo.Node is not null
                && StorePath.TryParseBasename(PathInfoRules.NodeName(pathInfo.Node).Span, out StorePathHash _)
                && (pathInfo.Node.NodeCase == Node.NodeOneofCase.Symlink
                    ? pathInfo.Node.Symlink.Target.Length > 0 && !pathInfo.Node.Symlink.Target.Span.Contains((byte)0)
                    : (pathInfo.Node.Directory?.Digest ?? pathInfo.Node.File.Digest).Length == 32)
                && pathInfo.References.All(r => r.Length == 20)
                && (pathInfo.Narinfo is null || pathInfo.Narinfo.NarSha256.Length == 32);
            bool actual;
            try
            {
                PathInfoRules.Validate(pathInfo);
                actual = true;
            }
            catch (StoreValidationException)
            {
                actual = false;
            }
            Assert.That(actual, Is.EqualTo(expected), () => pathInfo.ToString());
            ExercisePathInfo(pathInfo);
        }, iter: 2000);

    [Test]
    public void NixBase32_RoundTripsAnyBytes() =>
        Gen.Byte.Array[0, 70].Sample(bytes =>
        {
            string text = NixBase32.Encode(bytes);
            Assert.That(text.Length, Is.EqualTo(NixBase32.EncodedLength(bytes.Length)));
            Assert.That(text.All(c => NixBase32.Alphabet.Contains(c)), Is.True);
            Assert.That(NixBase32.Decode(text).AsSpan().SequenceEqual(bytes), Is.True);
            var decoded = new byte[bytes.Length];
            Assert.That(NixBase32.TryDecode(Encoding.ASCII.GetBytes(text), decoded), Is.True);
            Assert.That(decoded.AsSpan().SequenceEqual(bytes), Is.True);
        }, iter: 2000);

    [Test]
    public void NixBase32_DecodesRandomTextOnlyWhenItIsAnEncoding() =>
        Gen.Select(Gen.Char["0123456789abcdfghijklmnpqrsvwxyzeoutAZ-\0\u00e9"].Array[0, 40], Gen.Int[0, 30],
            (chars, destinationLength) => (new string(chars), destinationLength)).Sample((text, destinationLength) =>
        {
            // Decoding succeeds exactly when the text is the encoding of what it decodes to.
            byte[]? decoded = null;
            try
            {
                decoded = NixBase32.Decode(text);
            }
            catch (FormatException)
            {
            }
            if (decoded is not null)
                Assert.That(NixBase32.Encode(decoded), Is.EqualTo(text));
            else
                Assert.That(IsEncoding(text), Is.False, text);

            var destination = new byte[destinationLength];
            bool ok = NixBase32.TryDecode(text.AsSpan(), destination);
            Assert.That(ok, Is.EqualTo(decoded is not null && decoded.Length == destinationLength));
            if (ok)
                Assert.That(destination.AsSpan().SequenceEqual(decoded), Is.True);
        }, iter: 3000);

    // Independent check: all characters in the alphabet and no bits beyond the byte count.
    private static bool IsEncoding(string text)
    {
        int bytes = NixBase32.DecodedLength(text.Length);
        if (bytes < 0 || !text.All(c => NixBase32.Alphabet.Contains(c)))
            return false;
        var value = System.Numerics.BigInteger.Zero;
        foreach (char c in text)
            value = value * 32 + NixBase32.Alphabet.IndexOf(c);
        return value < System.Numerics.BigInteger.One << (8 * bytes);
    }

    private static readonly Gen<string> StorePathLike = Gen.Select(
        Gen.OneOf(
            Gen.Const("00bgd045z0d4icpbc2yyz4gx48ak44la"),
            Gen.Char["0123456789abcdfghijklmnpqrsvwxyz"].Array[32].Select(c => new string(c)),
            Gen.Char["0123456789abcdefghijklmnopqrstuvwxyz"].Array[30, 34].Select(c => new string(c))),
        Gen.Char["-"].Array[0, 2].Select(c => new string(c)),
        Gen.OneOf(
            Gen.Char["AZaz09+-._?="].Array[0, 215].Select(c => new string(c)),
            Gen.Char["abc. /\n\u00e9:~\0"].Array[0, 8].Select(c => new string(c))),
        (hash, dash, name) => hash + dash + name);

    [Test]
    public void StorePathParsing_AgreesAcrossFormsAndRoundTrips() =>
        StorePathLike.Sample(text =>
        {
            bool byBytes = StorePath.TryParseBasename(Encoding.UTF8.GetBytes(text), out StorePathHash hash);
            bool byChars = StorePath.TryParseBasename(text.AsSpan(), out StorePathHash charHash);
            bool byString = StorePath.TryParseBasename(text, out StorePath? parsed);
            StorePath? thrown = null;
            try
            {
                thrown = StorePath.ParseBasename(text);
            }
            catch (FormatException)
            {
            }
            Assert.That(byChars, Is.EqualTo(byBytes));
            Assert.That(byString, Is.EqualTo(byBytes));
            Assert.That(thrown is not null, Is.EqualTo(byBytes));
            bool expected = text.Length >= 34 && text[32] == '-'
                && IsEncoding(text[..32])
                && text[33..].Length <= 211 && text[33] != '.'
                && text[33..].All(c => char.IsAsciiLetterOrDigit(c) || "+-._?=".Contains(c));
            Assert.That(byBytes, Is.EqualTo(expected), text);
            if (!byBytes)
                return;
            Assert.That(charHash, Is.EqualTo(hash));
            Assert.That(parsed!.Hash, Is.EqualTo(hash));
            Assert.That(parsed.Basename, Is.EqualTo(text));
            Assert.That(StorePath.ParseAbsolute("/nix/store/" + text), Is.EqualTo(parsed));
            Assert.That(new StorePath(hash, parsed.Name), Is.EqualTo(parsed));
        }, iter: 3000);

    private static readonly Gen<byte[]> NarName =
        Gen.Byte[1, 255].Array[1, 10].Where(n => NodeNames.IsValid(n) && !n.AsSpan().Contains((byte)'/'));

    private static readonly Gen<NarTree> Leaf = Gen.OneOf<NarTree>(
        Gen.Select(Gen.Bool, Gen.Byte.Array[0, 200], (x, c) => (NarTree)new NarRegular(x, c)),
        Gen.Byte[1, 255].Array[1, 40].Select(t => (NarTree)new NarSymlink(t)));

    private static Gen<NarTree> Tree(int depth) => depth == 0
        ? Leaf
        : Gen.Frequency(
            (2, Leaf),
            (1, Gen.Select(NarName, Tree(depth - 1)).Array[0, 4].Select(entries => (NarTree)new NarDirectory(
                entries.DistinctBy(e => Convert.ToHexString(e.Item1))
                    .OrderBy(e => e.Item1, Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b)))
                    .ToList()))));

    private static void WriteTree(NarWriter writer, NarTree tree, int chunk)
    {
        switch (tree)
        {
            case NarRegular file:
                writer.BeginFile(file.Executable, (ulong)file.Contents.Length);
                for (int at = 0; at < file.Contents.Length; at += chunk)
                    writer.WriteFileContents(file.Contents.AsSpan(at, Math.Min(chunk, file.Contents.Length - at)));
                writer.EndFile();
                break;
            case NarSymlink symlink:
                writer.WriteSymlink(symlink.Target);
                break;
            case NarDirectory directory:
                writer.BeginDirectory();
                foreach (var (name, node) in directory.Entries)
                {
                    writer.BeginEntry(name);
                    WriteTree(writer, node, chunk);
                    writer.EndEntry();
                }
                writer.EndDirectory();
                break;
        }
    }

    private static bool SameTree(NarTree a, NarTree b) => (a, b) switch
    {
        (NarRegular x, NarRegular y) => x.Executable == y.Executable && x.Contents.AsSpan().SequenceEqual(y.Contents),
        (NarSymlink x, NarSymlink y) => x.Target.AsSpan().SequenceEqual(y.Target),
        (NarDirectory x, NarDirectory y) => x.Entries.Count == y.Entries.Count
            && x.Entries.Zip(y.Entries).All(p => p.First.Name.AsSpan().SequenceEqual(p.Second.Name) && SameTree(p.First.Node, p.Second.Node)),
        _ => false,
    };

    [Test]
    public void NarWriter_RoundTripsRandomTrees() =>
        Gen.Select(Tree(3), Gen.Int[1, 64]).Sample((tree, chunk) =>
        {
            var output = new MemoryStream();
            var writer = new NarWriter(output);
            writer.WriteHeader();
            WriteTree(writer, tree, chunk);
            Assert.That(writer.IsComplete, Is.True);
            byte[] nar = output.ToArray();
            Assert.That(nar.Length % 8, Is.Zero);
            Assert.That(SameTree(NarReader.Read(nar), tree), Is.True);

            using var hasher = new NarHasher();
            var hashingWriter = new NarWriter(hasher);
            hashingWriter.WriteHeader();
            WriteTree(hashingWriter, tree, 1000);
            Assert.That(hasher.Size, Is.EqualTo((ulong)nar.Length));
            Assert.That(hasher.CurrentSha256().AsSpan().SequenceEqual(System.Security.Cryptography.SHA256.HashData(nar)), Is.True);
        }, iter: 1000);
}
