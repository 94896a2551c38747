using System.Buffers.Binary;

namespace TvixLowFs.Store.Model;

/// <summary>
/// Streams a Nix archive ("nix-archive-1") to an output stream, node by node, never holding
/// an archive or a file in memory. Call order mirrors the NAR grammar:
/// <c>WriteHeader</c>, then one node: <c>WriteSymlink</c>, or <c>BeginFile</c> + contents + <c>EndFile</c>,
/// or <c>BeginDirectory</c>, per entry (in name order) <c>BeginEntry(name)</c> + node + <c>EndEntry</c>, then <c>EndDirectory</c>.
/// </summary>
/// <remarks>
/// Every token goes straight to <see cref="Output"/> in small writes: give it a buffered or hashing
/// stream (see <see cref="NarHasher"/>). A call out of order, an entry name that is not a valid node
/// name or not after the previous one, and file contents that differ from the announced size throw
/// <see cref="InvalidOperationException"/> or <see cref="ArgumentException"/>; after that the archive is unusable.
/// </remarks>
public sealed class NarWriter(Stream output)
{
    private enum State
    {
        ExpectHeader,
        ExpectNode,
        InFile,
        InDirectory,
        ExpectEndEntry,
        Done,
    }

    private State _state = State.ExpectHeader;
    private ulong _fileRemaining;
    private ulong _fileSize;

    // One frame per open directory: the name of its last entry (null before the first).
    private readonly Stack<byte[]?> _directories = new();

    public Stream Output { get; } = output ?? throw new ArgumentNullException(nameof(output));

    /// <summary>True once the root node is complete.</summary>
    public bool IsComplete => _state == State.Done;

    /// <summary>True between <see cref="BeginFile"/> and a successful <see cref="EndFile"/>.</summary>
    public bool IsFileOpen => _state == State.InFile;

    public void WriteHeader()
    {
        Expect(State.ExpectHeader, "WriteHeader");
        WriteString("nix-archive-1"u8);
        _state = State.ExpectNode;
    }

    public void WriteSymlink(ReadOnlySpan<byte> target)
    {
        Expect(State.ExpectNode, "WriteSymlink");
        if (target.IsEmpty)
            throw new ArgumentException("a symlink target is non-empty", nameof(target));
        if (target.IndexOf((byte)0) >= 0)
            throw new ArgumentException($"the symlink target {NodeNames.Escape(target)} contains NUL", nameof(target));
        WriteString("("u8);
        WriteString("type"u8);
        WriteString("symlink"u8);
        WriteString("target"u8);
        WriteString(target);
        WriteString(")"u8);
        NodeDone();
    }

    /// <summary>Starts a regular file of exactly <paramref name="size"/> bytes, written next with <see cref="WriteFileContents"/>.</summary>
    public void BeginFile(bool executable, ulong size)
    {
        Expect(State.ExpectNode, "BeginFile");
        WriteString("("u8);
        WriteString("type"u8);
        WriteString("regular"u8);
        if (executable)
        {
            WriteString("executable"u8);
            WriteString(""u8);
        }
        WriteString("contents"u8);
        WriteLength(size);
        _fileSize = size;
        _fileRemaining = size;
        _state = State.InFile;
    }

    public void WriteFileContents(ReadOnlySpan<byte> chunk)
    {
        CheckChunk(chunk.Length);
        Output.Write(chunk);
        _fileRemaining -= (ulong)chunk.Length;
    }

    /// <summary>The asynchronous form of <see cref="WriteFileContents"/>, for contents streamed from a blob.</summary>
    public async ValueTask WriteFileContentsAsync(ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken = default)
    {
        CheckChunk(chunk.Length);
        // Counted before the write so that a second call racing this one cannot overrun unnoticed.
        _fileRemaining -= (ulong)chunk.Length;
        await Output.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Pads the contents and closes the node; throws if fewer or more bytes than announced were written.</summary>
    public void EndFile()
    {
        Expect(State.InFile, "EndFile");
        if (_fileRemaining != 0)
            throw new InvalidOperationException(
                $"the file was announced as {_fileSize} bytes but only {_fileSize - _fileRemaining} were written");
        WritePadding(_fileSize);
        WriteString(")"u8);
        NodeDone();
    }

    public void BeginDirectory()
    {
        Expect(State.ExpectNode, "BeginDirectory");
        WriteString("("u8);
        WriteString("type"u8);
        WriteString("directory"u8);
        _directories.Push(null);
        _state = State.InDirectory;
    }

    /// <summary>Entries must come in strictly ascending byte order of their names.</summary>
    public void BeginEntry(ReadOnlySpan<byte> name)
    {
        Expect(State.InDirectory, "BeginEntry");
        if (NodeNames.Problem(name) is { } problem)
            throw new ArgumentException($"invalid NAR entry name {NodeNames.Escape(name)}: {problem}", nameof(name));
        byte[]? previous = _directories.Pop();
        if (previous is not null && previous.AsSpan().SequenceCompareTo(name) >= 0)
        {
            _directories.Push(previous);
            throw new ArgumentException(
                $"NAR entry {NodeNames.Escape(name)} does not come after {NodeNames.Escape(previous)}: entries go in strictly ascending name order",
                nameof(name));
        }
        _directories.Push(name.ToArray());
        WriteString("entry"u8);
        WriteString("("u8);
        WriteString("name"u8);
        WriteString(name);
        WriteString("node"u8);
        _state = State.ExpectNode;
    }

    public void EndEntry()
    {
        Expect(State.ExpectEndEntry, "EndEntry");
        WriteString(")"u8);
        _state = State.InDirectory;
    }

    public void EndDirectory()
    {
        Expect(State.InDirectory, "EndDirectory");
        WriteString(")"u8);
        _directories.Pop();
        NodeDone();
    }

    /// <summary>The size of the NAR string token for <paramref name="length"/> bytes: length word, bytes, padding.</summary>
    public static ulong StringSize(ulong length) => 8 + length + Padding(length);

    private static ulong Padding(ulong length) => (8 - (length & 7)) & 7;

    private void NodeDone() => _state = _directories.Count == 0 ? State.Done : State.ExpectEndEntry;

    private void CheckChunk(int length)
    {
        Expect(State.InFile, "WriteFileContents");
        if ((ulong)length > _fileRemaining)
            throw new InvalidOperationException(
                $"the file was announced as {_fileSize} bytes; writing {length} more after {_fileSize - _fileRemaining} exceeds it");
    }

    private void Expect(State state, string call)
    {
        if (_state != state)
            throw new InvalidOperationException($"NarWriter.{call} is not allowed now: {Describe(_state)}");
    }

    private static string Describe(State state) => state switch
    {
        State.ExpectHeader => "the header comes first (WriteHeader)",
        State.ExpectNode => "a node is expected (WriteSymlink, BeginFile or BeginDirectory)",
        State.InFile => "file contents are being written (WriteFileContents or EndFile)",
        State.InDirectory => "a directory is open (BeginEntry or EndDirectory)",
        State.ExpectEndEntry => "an entry's node is complete (EndEntry)",
        _ => "the archive is complete",
    };

    private void WriteLength(ulong length)
    {
        Span<byte> word = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(word, length);
        Output.Write(word);
    }

    private void WritePadding(ulong length)
    {
        ReadOnlySpan<byte> zeros = [0, 0, 0, 0, 0, 0, 0, 0];
        int padding = (int)Padding(length);
        if (padding != 0)
            Output.Write(zeros[..padding]);
    }

    private void WriteString(ReadOnlySpan<byte> bytes)
    {
        // Tokens are short: send length, bytes and padding as one write.
        int total = (int)StringSize((ulong)bytes.Length);
        if (total <= 512)
        {
            Span<byte> token = stackalloc byte[total];
            BinaryPrimitives.WriteUInt64LittleEndian(token, (ulong)bytes.Length);
            bytes.CopyTo(token[8..]);
            token[(8 + bytes.Length)..].Clear();
            Output.Write(token);
            return;
        }
        WriteLength((ulong)bytes.Length);
        Output.Write(bytes);
        WritePadding((ulong)bytes.Length);
    }
}
