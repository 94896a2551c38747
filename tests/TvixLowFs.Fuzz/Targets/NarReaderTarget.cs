using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Fuzz;

/// <summary>
/// A NAR from a binary cache through <see cref="NarReader"/> (documented rejection:
/// InvalidNarException), every event and every file's contents read, with the smallest buffer so
/// refills and compaction happen. An accepted archive must hash and measure to exactly its bytes.
/// </summary>
public sealed class NarReaderTarget : FuzzTarget
{
    private const ulong MaxNarSize = 1 << 20;

    public override string Name => "nar";

    public override bool Run(byte[] input)
    {
        using var reader = new NarReader(new MemoryStream(input, writable: false), MaxNarSize, bufferSize: 8192);
        try
        {
            // Every event takes at least one 8-byte length from the stream: this bounds the loop.
            for (int events = 0; events <= input.Length / 8 + 1; events++)
            {
                NarEvent next = Completed(reader.ReadAsync());
                // The root node has no name; every entry's name is a valid node name (checked before
                // the contents are read: Name is valid until the next call on the reader).
                bool isEntry = next == NarEvent.Directory ? reader.Depth > 1 : next is NarEvent.File or NarEvent.Symlink && reader.Depth > 0;
                if (isEntry ? !NodeNames.IsValid(reader.Name) : !reader.Name.IsEmpty)
                    throw new BrokenPromiseException("an entry name that is not a valid node name, or a root node with a name");
                switch (next)
                {
                    case NarEvent.End:
                        if (reader.NarSize != (ulong)input.Length || !reader.NarSha256.AsSpan().SequenceEqual(SHA256.HashData(input)))
                            throw new BrokenPromiseException("an accepted archive's size or SHA-256 is not that of its bytes");
                        return true;
                    case NarEvent.File:
                        ulong contents = 0;
                        while (true)
                        {
                            int length = Completed(reader.ReadFileContentsAsync()).Length;
                            if (length == 0)
                                break;
                            contents += (ulong)length;
                        }
                        if (contents != reader.FileSize)
                            throw new BrokenPromiseException($"a file of {reader.FileSize} bytes gave {contents} bytes of contents");
                        break;
                    case NarEvent.Symlink:
                        if (reader.Target.IsEmpty || reader.Target.Contains((byte)0))
                            throw new BrokenPromiseException("an accepted symlink target is empty or holds a NUL");
                        break;
                }
            }
            throw new BrokenPromiseException("more events than the archive has 8-byte words");
        }
        catch (InvalidNarException)
        {
            return false;
        }
    }

    /// <summary>Over a MemoryStream every read completes at once; one that does not is a broken promise, not a wait.</summary>
    private static T Completed<T>(ValueTask<T> pending)
    {
        if (!pending.IsCompleted)
            throw new BrokenPromiseException("a read over a MemoryStream did not complete synchronously");
        return pending.GetAwaiter().GetResult();
    }

    public override IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        yield return ("valid-file", Archive(w => w.File("hello\n", executable: false)));
        yield return ("valid-symlink", Archive(w => w.Symlink("../target")));
        yield return ("valid-tree", Archive(w => w.Directory(() =>
        {
            w.Entry("bin", () => w.Directory(() => w.Entry("tool", () => w.File("#!/bin/sh\n", executable: true))));
            w.Entry("empty", () => w.Directory(() => { }));
            w.Entry("link", () => w.Symlink("bin/tool"));
            w.Entry("z", () => w.File(new string('x', 9000), executable: false));
        })));
        byte[] tree = Archive(w => w.Directory(() => w.Entry("a", () => w.File("abc", executable: false))));
        yield return ("near-trailing-byte", [.. tree, 0]);
        yield return ("near-truncated", tree[..^8]);
        yield return ("near-unsorted", Archive(w => w.Directory(() =>
        {
            w.Entry("b", () => w.File("", executable: false));
            w.Entry("a", () => w.File("", executable: false));
        })));
        yield return ("near-dot-dot", Archive(w => w.Directory(() => w.Entry("..", () => w.Symlink("/etc")))));
        byte[] badPadding = Archive(w => w.File("a", executable: false));
        badPadding[^20] = 1; // the padding after "a" (the closing ")" is the last 16 bytes)
        yield return ("near-nonzero-padding", badPadding);
    }

    private static byte[] Archive(Action<TokenWriter> root)
    {
        var writer = new TokenWriter();
        writer.Token("nix-archive-1");
        root(writer);
        return writer.ToArray();
    }

    /// <summary>Writes NAR tokens (length, bytes, zero padding) for the seed corpus.</summary>
    private sealed class TokenWriter
    {
        private readonly MemoryStream _out = new();

        public void Token(string text) => Token(Encoding.UTF8.GetBytes(text));

        public void Token(byte[] bytes)
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)bytes.Length);
            _out.Write(length);
            _out.Write(bytes);
            _out.Write(new byte[(8 - bytes.Length % 8) % 8]);
        }

        public void File(string contents, bool executable)
        {
            Token("("); Token("type"); Token("regular");
            if (executable)
            {
                Token("executable");
                Token("");
            }
            Token("contents"); Token(contents); Token(")");
        }

        public void Symlink(string target)
        {
            Token("("); Token("type"); Token("symlink"); Token("target"); Token(target); Token(")");
        }

        public void Directory(Action entries)
        {
            Token("("); Token("type"); Token("directory");
            entries();
            Token(")");
        }

        public void Entry(string name, Action node)
        {
            Token("entry"); Token("("); Token("name"); Token(name); Token("node");
            node();
            Token(")");
        }

        public byte[] ToArray() => _out.ToArray();
    }
}
