using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace TvixLowFs.Store.Model;

/// <summary>
/// Reads one Nix archive from a stream, event by event (<see cref="NarEvent"/>), validating every
/// byte as it goes, without ever holding an archive or a file in memory. File contents come out
/// in slices of the reader's pooled buffer; names and targets are spans into it.
/// </summary>
/// <remarks>
/// <para>Checked, as Nix's <c>parseDump</c> does and stricter: the magic; the token grammar exactly
/// (<c>(</c> <c>type</c> then <c>regular</c> [<c>executable</c> <c>""</c>] <c>contents</c>, <c>symlink</c>
/// <c>target</c>, or <c>directory</c> {<c>entry</c> <c>(</c> <c>name</c> N <c>node</c> … <c>)</c>}, then <c>)</c>);
/// every padding byte zero; entry names valid castore names (<see cref="NodeNames"/>: 1..255 bytes, not
/// <c>.</c>/<c>..</c>, no <c>/</c> or NUL) in strictly ascending byte order, so unique; symlink targets
/// 1..<see cref="MaxTargetLength"/> bytes without NUL; file sizes at most <see cref="MaxFileSize"/>;
/// directories nested at most <see cref="MaxDepth"/> deep; nothing after the archive; and the whole
/// archive at most <c>maxNarSize</c> bytes. Every length is checked against its bound before anything
/// is read for it, so a hostile length costs nothing. A violation throws <see cref="InvalidNarException"/>
/// naming the rule and the byte offset; the reader is unusable after that.</para>
/// <para>The SHA-256 and size cover every byte taken from the stream. At most <c>maxNarSize</c> + 1
/// bytes are ever read (the one more shows that nothing follows an archive of exactly that size).</para>
/// <para>Parsing works on whole tokens in the buffer: an event's tokens are parsed only once they are all
/// buffered (the longest, an entry holding a symlink, is under 4.5 KiB), so the hot path is
/// synchronous span code and allocates nothing; the stream is read only when the buffer runs dry.</para>
/// </remarks>
public sealed class NarReader : IDisposable
{
    /// <summary>The longest symlink target (Linux's PATH_MAX less the NUL; snix's bound too).</summary>
    public const int MaxTargetLength = 4095;

    /// <summary>
    /// How deep directories may nest. Each level adds at least two bytes ("/x") to a path, so a
    /// deeper tree has paths longer than PATH_MAX (4096) that no tool can open by name (Nix's own
    /// restore included); the bound also caps the reader's per-level state at 2048 × 256 bytes.
    /// </summary>
    public const int MaxDepth = 2048;

    /// <summary>The largest file: what fits the kernel's <c>off_t</c> (and .NET's <c>long</c>).</summary>
    public const ulong MaxFileSize = long.MaxValue;

    public const int DefaultBufferSize = 256 * 1024;

    // The longest grammar token is "nix-archive-1" (13 bytes); anything longer is not a token.
    private const int MaxTokenLength = 16;
    private const int NameSlot = NodeNames.MaxLength + 1;
    private const int NeedEndOfStream = int.MaxValue;

    private enum State
    {
        Start,
        InDirectory,
        AfterChild,
        InFile,
        AfterRoot,
        Done,
        Failed,
    }

    /// <summary>What one parse step decided; applied to the reader only when the step succeeds.</summary>
    private struct Step
    {
        public State State;
        public int Depth;
        public NarEvent Event;
        public int NameOffset, NameLength;
        public int TargetOffset, TargetLength;
        public bool Executable;
        public ulong FileSize;
    }

    private readonly Stream _input;
    private readonly ulong _maxNarSize;
    private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private byte[] _buffer;
    private int _start, _end;     // unconsumed bytes are _buffer[_start.._end)
    private ulong _origin;        // NAR offset of _buffer[0]
    private ulong _read;          // bytes taken from the stream (all hashed)
    private int _eventLength;     // bytes of the current event, consumed by the next call

    private State _state = State.Start;
    private int _depth;
    private NarEvent _event;
    private int _nameOffset, _nameLength, _targetOffset, _targetLength;
    private bool _executable;
    private ulong _fileSize, _fileRemaining;

    // The last entry name of each open directory (level d at d * NameSlot), to check the order.
    private byte[] _lastNames = new byte[16 * NameSlot];
    private int[] _lastNameLengths = new int[16];

    private byte[]? _narSha256;

    /// <param name="input">The (decompressed) NAR; read from where it stands, never disposed here.</param>
    /// <param name="maxNarSize">A longer archive fails as soon as it is known to be longer.</param>
    public NarReader(Stream input, ulong maxNarSize, int bufferSize = DefaultBufferSize)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 8192);
        _input = input;
        _maxNarSize = maxNarSize;
        _buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
    }

    /// <summary>The last event returned.</summary>
    public NarEvent Event => _event;

    /// <summary>Directories open after the last event (0 for the root file or symlink, and after the root directory ends).</summary>
    public int Depth => _depth;

    /// <summary>
    /// The entry name of the last Directory, File or Symlink event; empty for the root node and for
    /// EndDirectory. Valid until the next call on the reader.
    /// </summary>
    public ReadOnlySpan<byte> Name =>
        _event is NarEvent.Directory or NarEvent.File or NarEvent.Symlink && _eventLength > 0
            ? _buffer.AsSpan(_start + _nameOffset, _nameLength)
            : default;

    /// <summary>The target of the last Symlink event; valid until the next call on the reader.</summary>
    public ReadOnlySpan<byte> Target =>
        _event == NarEvent.Symlink && _eventLength > 0 ? _buffer.AsSpan(_start + _targetOffset, _targetLength) : default;

    /// <summary>Whether the file of the last File event is executable.</summary>
    public bool Executable => _executable;

    /// <summary>The size of the file of the last File event.</summary>
    public ulong FileSize => _fileSize;

    /// <summary>Bytes of the archive consumed so far (its size once <see cref="NarEvent.End"/> was returned).</summary>
    public ulong Position => _origin + (ulong)_start + (ulong)_eventLength;

    /// <summary>SHA-256 of the whole archive; available once <see cref="NarEvent.End"/> was returned.</summary>
    public byte[] NarSha256 => _narSha256 ?? throw new InvalidOperationException("the archive has not been read to its end");

    /// <summary>The size of the whole archive; available once <see cref="NarEvent.End"/> was returned.</summary>
    public ulong NarSize => _narSha256 is not null ? _read : throw new InvalidOperationException("the archive has not been read to its end");

    /// <summary>
    /// Reads up to the next event. Contents of a File not read with <see cref="ReadFileContentsAsync"/>
    /// are skipped (and still hashed). After <see cref="NarEvent.End"/> it keeps returning End.
    /// </summary>
    public ValueTask<NarEvent> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_state == State.Done)
            return new ValueTask<NarEvent>(NarEvent.End);
        ThrowIfFailed();
        ConsumeEvent();
        try
        {
            if (_state == State.InFile && _fileRemaining > 0)
                SkipBufferedContents();
            if (_state != State.InFile || _fileRemaining == 0)
            {
                int need = Parse();
                if (need == 0)
                    return new ValueTask<NarEvent>(_event);
                return ReadSlowAsync(need, cancellationToken);
            }
        }
        catch (InvalidNarException)
        {
            _state = State.Failed;
            throw;
        }
        return ReadSlowAsync(-1, cancellationToken);
    }

    /// <summary>
    /// The next slice of the current file's contents, empty once it has all been read. The memory is the
    /// reader's buffer: valid until the next call on the reader.
    /// </summary>
    public ValueTask<ReadOnlyMemory<byte>> ReadFileContentsAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfFailed();
        if (_state != State.InFile)
            throw new InvalidOperationException("NarReader.ReadFileContentsAsync is only allowed after a File event");
        ConsumeEvent();
        if (_fileRemaining == 0)
            return default;
        if (_end > _start)
            return new ValueTask<ReadOnlyMemory<byte>>(TakeContents());
        return ReadContentsSlowAsync(cancellationToken);
    }

    public void Dispose()
    {
        _sha256.Dispose();
        byte[] buffer = _buffer;
        _buffer = [];
        if (buffer.Length > 0)
            ArrayPool<byte>.Shared.Return(buffer);
        if (_state != State.Done)
            _state = State.Failed;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<NarEvent> ReadSlowAsync(int need, CancellationToken cancellationToken)
    {
        try
        {
            while (_state == State.InFile && _fileRemaining > 0)
            {
                if (_end == _start)
                {
                    Reset();
                    if (await ReadMoreAsync(cancellationToken).ConfigureAwait(false) == 0)
                        throw Truncated();
                }
                SkipBufferedContents();
                need = -1;
            }
            while (true)
            {
                if (need < 0)
                    need = Parse();
                if (need == 0)
                    return _event;
                if (need == NeedEndOfStream)
                {
                    // Nothing is buffered: the archive ends here only if the stream does too.
                    Reset();
                    if (await ReadMoreAsync(cancellationToken).ConfigureAwait(false) != 0)
                        throw Invalid("trailing bytes after the end of the archive", _origin);
                    _narSha256 = _sha256.GetHashAndReset();
                    _state = State.Done;
                    _event = NarEvent.End;
                    return NarEvent.End;
                }
                await EnsureAsync(need, cancellationToken).ConfigureAwait(false);
                need = -1;
            }
        }
        catch (InvalidNarException)
        {
            _state = State.Failed;
            throw;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadOnlyMemory<byte>> ReadContentsSlowAsync(CancellationToken cancellationToken)
    {
        Reset();
        if (await ReadMoreAsync(cancellationToken).ConfigureAwait(false) == 0)
        {
            _state = State.Failed;
            throw Truncated();
        }
        return TakeContents();
    }

    private ReadOnlyMemory<byte> TakeContents()
    {
        int n = (int)Math.Min((ulong)(_end - _start), _fileRemaining);
        var slice = new ReadOnlyMemory<byte>(_buffer, _start, n);
        _start += n;
        _fileRemaining -= (ulong)n;
        return slice;
    }

    private void SkipBufferedContents()
    {
        int n = (int)Math.Min((ulong)(_end - _start), _fileRemaining);
        _start += n;
        _fileRemaining -= (ulong)n;
    }

    private void ConsumeEvent()
    {
        _start += _eventLength;
        _eventLength = 0;
    }

    /// <summary>Drops the (fully consumed) buffer contents so the next read fills it from the start.</summary>
    private void Reset()
    {
        _origin += (ulong)_end;
        _start = _end = 0;
    }

    /// <summary>Makes <paramref name="need"/> bytes from <c>_start</c> available, or fails.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask EnsureAsync(int need, CancellationToken cancellationToken)
    {
        ulong position = _origin + (ulong)_start;
        if ((ulong)need > _maxNarSize - position)
            throw TooLong(_maxNarSize);
        if (need > _buffer.Length)
            throw new InvalidOperationException($"NarReader needs {need} bytes at once, its buffer holds {_buffer.Length}");
        if (_buffer.Length - _start < need)
        {
            int kept = _end - _start;
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, kept);
            _origin += (ulong)_start;
            _start = 0;
            _end = kept;
        }
        while (_end - _start < need)
        {
            if (await ReadMoreAsync(cancellationToken).ConfigureAwait(false) == 0)
                throw Truncated();
        }
    }

    /// <summary>Reads what fits after <c>_end</c>, never past <c>maxNarSize</c> + 1 bytes in all; hashes it.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadMoreAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int room = _buffer.Length - _end;
        ulong allowed = _maxNarSize == ulong.MaxValue ? ulong.MaxValue : _maxNarSize + 1 - _read;
        int want = (int)Math.Min((ulong)room, allowed);
        if (want == 0)
            return 0;
        int n = await _input.ReadAsync(_buffer.AsMemory(_end, want), cancellationToken).ConfigureAwait(false);
        if (n > 0)
        {
            _sha256.AppendData(_buffer, _end, n);
            _read += (ulong)n;
            _end += n;
        }
        return n;
    }

    private void ThrowIfFailed()
    {
        if (_state == State.Failed)
            throw new InvalidOperationException("the NarReader failed or was disposed; it cannot read on");
    }

    /// <summary>
    /// Parses the next event from the buffered bytes. Returns 0 and applies it when they hold the whole
    /// event; otherwise changes nothing and returns how many bytes from <c>_start</c> it needs
    /// (<see cref="NeedEndOfStream"/>: the archive is complete and the end of the stream must follow).
    /// </summary>
    private int Parse()
    {
        // Never parse past maxNarSize: a token that would end beyond it is asked for, and refused, by EnsureAsync.
        int available = _end - _start;
        ulong room = _maxNarSize - (_origin + (ulong)_start);
        if ((ulong)available > room)
            available = (int)room;
        ReadOnlySpan<byte> data = _buffer.AsSpan(_start, available);
        var step = new Step { State = _state, Depth = _depth };
        int p = 0;
        int need;
        while (true)
        {
            switch (step.State)
            {
                case State.Start:
                {
                    int at = p;
                    if ((need = ReadToken(data, ref p, out ReadOnlySpan<byte> magic, "the magic 'nix-archive-1'")) != 0)
                        return need;
                    if (!magic.SequenceEqual("nix-archive-1"u8))
                        throw Invalid("the stream does not start with the magic 'nix-archive-1'", At(at));
                    return ParseNode(data, ref p, ref step);
                }
                case State.AfterChild:
                    if ((need = ExpectToken(data, ref p, ")"u8, "')' closing the entry")) != 0)
                        return need;
                    step.State = State.InDirectory;
                    continue;
                case State.InDirectory:
                {
                    int at = p;
                    if ((need = ReadToken(data, ref p, out ReadOnlySpan<byte> token, "'entry' or ')'")) != 0)
                        return need;
                    if (token.SequenceEqual(")"u8))
                    {
                        step.Depth--;
                        step.Event = NarEvent.EndDirectory;
                        step.State = step.Depth == 0 ? State.AfterRoot : State.AfterChild;
                        Apply(ref step, p);
                        return 0;
                    }
                    if (!token.SequenceEqual("entry"u8))
                        throw Unexpected("'entry' or ')'", token, at);
                    if ((need = ExpectToken(data, ref p, "("u8, "'(' opening the entry")) != 0
                        || (need = ExpectToken(data, ref p, "name"u8, "'name'")) != 0
                        || (need = ReadName(data, ref p, step.Depth, ref step)) != 0
                        || (need = ExpectToken(data, ref p, "node"u8, "'node'")) != 0)
                        return need;
                    return ParseNode(data, ref p, ref step);
                }
                case State.InFile:
                {
                    // The contents have been consumed; their padding and the node's ')' follow.
                    int padding = (int)((8 - (_fileSize & 7)) & 7);
                    if (data.Length - p < padding)
                        return p + padding;
                    if (data.Slice(p, padding).IndexOfAnyExcept((byte)0) >= 0)
                        throw Invalid("non-zero padding after the file contents", At(p));
                    p += padding;
                    if ((need = ExpectToken(data, ref p, ")"u8, "')' closing the file")) != 0)
                        return need;
                    step.State = step.Depth == 0 ? State.AfterRoot : State.AfterChild;
                    if (step.State == State.AfterRoot)
                    {
                        // A clean point with no event pending: keep the progress, then look for the end.
                        _state = State.AfterRoot;
                        _start += p;
                        data = data[p..];
                        p = 0;
                    }
                    continue;
                }
                case State.AfterRoot:
                    if (_end - _start - p > 0)
                        throw Invalid("trailing bytes after the end of the archive", At(p));
                    if (p > 0)
                    {
                        _state = State.AfterRoot;
                        _start += p;
                    }
                    return NeedEndOfStream;
                default:
                    throw new InvalidOperationException($"NarReader cannot parse in state {step.State}");
            }
        }
    }

    /// <summary>A node from its '(' on: the header of a file or directory, or a whole symlink.</summary>
    private int ParseNode(ReadOnlySpan<byte> data, ref int p, ref Step step)
    {
        int need;
        if ((need = ExpectToken(data, ref p, "("u8, "'(' opening a node")) != 0
            || (need = ExpectToken(data, ref p, "type"u8, "'type'")) != 0)
            return need;
        int typeAt = p;
        if ((need = ReadToken(data, ref p, out ReadOnlySpan<byte> type, "a node type")) != 0)
            return need;
        if (type.SequenceEqual("regular"u8))
        {
            int at = p;
            if ((need = ReadToken(data, ref p, out ReadOnlySpan<byte> tag, "'executable' or 'contents'")) != 0)
                return need;
            step.Executable = false;
            if (tag.SequenceEqual("executable"u8))
            {
                int markerAt = p;
                if ((need = ReadToken(data, ref p, out ReadOnlySpan<byte> marker, "the executable marker's empty value")) != 0)
                    return need;
                if (!marker.IsEmpty)
                    throw Invalid("the executable marker has a non-empty value", At(markerAt));
                step.Executable = true;
                at = p;
                if ((need = ReadToken(data, ref p, out tag, "'contents'")) != 0)
                    return need;
            }
            if (!tag.SequenceEqual("contents"u8))
                throw Unexpected(step.Executable ? "'contents'" : "'executable' or 'contents'", tag, at);
            if (data.Length - p < 8)
                return p + 8;
            ulong size = BinaryPrimitives.ReadUInt64LittleEndian(data[p..]);
            if (size > MaxFileSize)
                throw Invalid($"a file of {size} bytes (at most {MaxFileSize} are allowed)", At(p));
            p += 8;
            // Contents, padding and the closing ')' must all fit.
            ulong position = At(p);
            if (size + ((8 - (size & 7)) & 7) + 16 > _maxNarSize - position)
                throw TooLong(position);
            step.FileSize = size;
            step.Event = NarEvent.File;
            step.State = State.InFile;
            Apply(ref step, p);
            return 0;
        }
        if (type.SequenceEqual("symlink"u8))
        {
            if ((need = ExpectToken(data, ref p, "target"u8, "'target'")) != 0)
                return need;
            int at = p;
            if ((need = ReadString(data, ref p, MaxTargetLength, out int offset, out int length, "a symlink target")) != 0)
                return need;
            ReadOnlySpan<byte> target = data.Slice(offset, length);
            if (target.IsEmpty)
                throw Invalid("an empty symlink target", At(at));
            if (target.IndexOf((byte)0) >= 0)
                throw Invalid($"the symlink target {NodeNames.Escape(target)} contains NUL", At(at));
            if ((need = ExpectToken(data, ref p, ")"u8, "')' closing the symlink")) != 0)
                return need;
            step.TargetOffset = offset;
            step.TargetLength = length;
            step.Event = NarEvent.Symlink;
            step.State = step.Depth == 0 ? State.AfterRoot : State.AfterChild;
            Apply(ref step, p);
            return 0;
        }
        if (type.SequenceEqual("directory"u8))
        {
            if (step.Depth >= MaxDepth)
                throw Invalid($"directories nested more than {MaxDepth} deep", At(typeAt));
            step.Depth++;
            step.Event = NarEvent.Directory;
            step.State = State.InDirectory;
            Apply(ref step, p);
            return 0;
        }
        throw Unexpected("a node type ('regular', 'symlink' or 'directory')", type, typeAt);
    }

    /// <summary>An entry name: a valid node name after the previous entry's, checked against the bounds before it is read.</summary>
    private int ReadName(ReadOnlySpan<byte> data, ref int p, int level, ref Step step)
    {
        int at = p;
        int need = ReadString(data, ref p, NodeNames.MaxLength, out int offset, out int length, "an entry name");
        if (need != 0)
            return need;
        ReadOnlySpan<byte> name = data.Slice(offset, length);
        if (!NodeNames.IsValid(name))
            throw Invalid($"invalid entry name {NodeNames.Escape(name)} ({NodeNames.Problem(name)})", At(at));
        int previousLength = _lastNameLengths[level];
        if (previousLength >= 0)
        {
            ReadOnlySpan<byte> previous = _lastNames.AsSpan(level * NameSlot, previousLength);
            int order = previous.SequenceCompareTo(name);
            if (order == 0)
                throw Invalid($"duplicate entry name {NodeNames.Escape(name)}", At(at));
            if (order > 0)
                throw Invalid($"entry names out of order ({NodeNames.Escape(name)} after {NodeNames.Escape(previous)})", At(at));
        }
        step.NameOffset = offset;
        step.NameLength = length;
        return 0;
    }

    /// <summary>Makes a successful step the reader's state; the event's bytes are consumed by the next call.</summary>
    private void Apply(ref Step step, int length)
    {
        bool named = _state != State.Start;
        if (named)
        {
            // Every node but the root is an entry of the directory one level up.
            int level = step.Event == NarEvent.Directory ? step.Depth - 1 : step.Depth;
            if (step.Event != NarEvent.EndDirectory)
            {
                _buffer.AsSpan(_start + step.NameOffset, step.NameLength).CopyTo(_lastNames.AsSpan(level * NameSlot));
                _lastNameLengths[level] = step.NameLength;
            }
        }
        if (step.Event == NarEvent.Directory)
        {
            EnsureLevel(step.Depth);
            _lastNameLengths[step.Depth] = -1;
        }
        _state = step.State;
        _depth = step.Depth;
        _event = step.Event;
        _nameOffset = named ? step.NameOffset : 0;
        _nameLength = named && step.Event != NarEvent.EndDirectory ? step.NameLength : 0;
        _targetOffset = step.TargetOffset;
        _targetLength = step.TargetLength;
        if (step.Event == NarEvent.File)
        {
            _executable = step.Executable;
            _fileSize = _fileRemaining = step.FileSize;
        }
        _eventLength = length;
    }

    private void EnsureLevel(int level)
    {
        if (level < _lastNameLengths.Length)
            return;
        int capacity = Math.Min(Math.Max(level + 1, _lastNameLengths.Length * 2), MaxDepth + 1);
        Array.Resize(ref _lastNameLengths, capacity);
        Array.Resize(ref _lastNames, capacity * NameSlot);
    }

    /// <summary>A grammar token (at most 16 bytes); anything longer is reported as what it is not.</summary>
    private int ReadToken(ReadOnlySpan<byte> data, ref int p, out ReadOnlySpan<byte> token, string expected)
    {
        token = default;
        if (data.Length - p < 8)
            return p + 8;
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(data[p..]);
        if (length > MaxTokenLength)
            throw Invalid($"expected {expected}, got a string of {length} bytes", At(p));
        int need = ReadString(data, ref p, MaxTokenLength, out int offset, out int count, "a token");
        if (need != 0)
            return need;
        token = data.Slice(offset, count);
        return 0;
    }

    private int ExpectToken(ReadOnlySpan<byte> data, ref int p, ReadOnlySpan<byte> expected, string description)
    {
        int at = p;
        int need = ReadToken(data, ref p, out ReadOnlySpan<byte> token, description);
        if (need != 0)
            return need;
        if (!token.SequenceEqual(expected))
            throw Unexpected(description, token, at);
        return 0;
    }

    /// <summary>A length-prefixed, zero-padded string of at most <paramref name="maxLength"/> bytes, as an offset into <paramref name="data"/>.</summary>
    private int ReadString(ReadOnlySpan<byte> data, ref int p, int maxLength, out int offset, out int length, string what)
    {
        offset = length = 0;
        if (data.Length - p < 8)
            return p + 8;
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(data[p..]);
        if (declared > (ulong)maxLength)
            throw Invalid($"{what} of {declared} bytes (at most {maxLength} are allowed)", At(p));
        int count = (int)declared;
        int padded = (count + 7) & ~7;
        if (data.Length - p - 8 < padded)
            return p + 8 + padded;
        if (data.Slice(p + 8 + count, padded - count).IndexOfAnyExcept((byte)0) >= 0)
            throw Invalid($"non-zero padding after {what}", At(p + 8 + count));
        offset = p + 8;
        length = count;
        p += 8 + padded;
        return 0;
    }

    private ulong At(int p) => _origin + (ulong)_start + (ulong)p;

    private static InvalidNarException Invalid(string what, ulong at) =>
        new($"invalid NAR: {what} at byte {at.ToString(CultureInfo.InvariantCulture)}");

    private InvalidNarException Unexpected(string expected, ReadOnlySpan<byte> actual, int at) =>
        Invalid($"expected {expected}, got {NodeNames.Escape(actual)}", At(at));

    private InvalidNarException Truncated() =>
        Invalid("the stream ends before the archive does", _read);

    private InvalidNarException TooLong(ulong at) =>
        new($"invalid NAR: the NAR is longer than NarSize {_maxNarSize.ToString(CultureInfo.InvariantCulture)} at byte {at.ToString(CultureInfo.InvariantCulture)}")
        {
            ExceedsSizeBound = true,
        };
}
