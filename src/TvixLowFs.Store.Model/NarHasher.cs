using System.Security.Cryptography;

namespace TvixLowFs.Store.Model;

/// <summary>
/// A write-only stream that keeps nothing but the running hash (SHA-256 unless told otherwise) and
/// byte count of what is written: the target of a <see cref="NarWriter"/> when only <c>nar_size</c>
/// and <c>nar_sha256</c> are wanted (or the NAR hash of another algorithm a content address names).
/// </summary>
public sealed class NarHasher(HashAlgorithmName algorithm) : Stream
{
    private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(algorithm);
    private ulong _size;

    public NarHasher()
        : this(HashAlgorithmName.SHA256)
    {
    }

    /// <summary>The number of bytes written so far (the NAR size once the archive is complete).</summary>
    public ulong Size => _size;

    /// <summary>The hash (SHA-256 by default) of everything written so far (the hash keeps running; more writes may follow).</summary>
    public byte[] CurrentSha256() => _sha256.GetCurrentHash();

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _sha256.AppendData(buffer);
        _size += (ulong)buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => (long)_size;

    public override long Position
    {
        get => (long)_size;
        set => throw new NotSupportedException();
    }

    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _sha256.Dispose();
        base.Dispose(disposing);
    }
}
