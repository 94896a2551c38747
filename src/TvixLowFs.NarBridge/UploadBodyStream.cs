using System.Security.Cryptography;

namespace TvixLowFs.NarBridge;

/// <summary>
/// An upload's body as it arrives: counted against a bound (413 past it), hashed with SHA-256 (the
/// file hash its URL claims), and each read given at most the stall timeout to deliver a byte
/// (408 after it), so a client that stops sending cannot hold a request, or an ingest, forever.
/// The first bytes may be looked at before anything else reads them (<see cref="PeekAsync"/>),
/// and the hash may be left off when the caller gets the same one elsewhere (an uncompressed NAR:
/// the NAR reader hashes exactly these bytes already).
/// </summary>
internal sealed class UploadBodyStream : Stream
{
    private readonly Stream _body;
    private readonly long _maxBytes;
    private readonly TimeSpan _stallTimeout;
    private readonly CancellationToken _requestAborted;
    private readonly CancellationTokenSource _stall;
    private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _count;
    private bool _hashing = true;
    private byte[]? _prefix;
    private int _prefixLength, _prefixPosition;

    public UploadBodyStream(Stream body, long maxBytes, TimeSpan stallTimeout, CancellationToken requestAborted)
    {
        _body = body;
        _maxBytes = maxBytes;
        _stallTimeout = stallTimeout;
        _requestAborted = requestAborted;
        _stall = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
    }

    /// <summary>Bytes read so far.</summary>
    public long Count => _count;

    /// <summary>SHA-256 of every byte read; call once, after the body's end, and only if hashing stayed on.</summary>
    public byte[] Sha256() => _hashing ? _sha256.GetHashAndReset() : throw new InvalidOperationException("the upload was not hashed");

    /// <summary>
    /// Reads up to <paramref name="count"/> bytes ahead, before any other read, and gives them back
    /// to the reads that follow. They are hashed only once <see cref="KeepHashing"/> or
    /// <see cref="StopHashing"/> decides.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>> PeekAsync(int count, CancellationToken cancellationToken)
    {
        if (_count != 0 || _prefix is not null)
            throw new InvalidOperationException("only the first bytes can be peeked at");
        var prefix = new byte[count];
        _hashing = false;
        int length = 0;
        while (length < count)
        {
            int n = await ReadAsync(prefix.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (n == 0)
                break;
            length += n;
        }
        _prefix = prefix;
        _prefixLength = length;
        return prefix.AsMemory(0, length);
    }

    /// <summary>After a peek: hash the body after all, from its first byte.</summary>
    public void KeepHashing()
    {
        _hashing = true;
        if (_prefix is not null)
            _sha256.AppendData(_prefix, 0, _prefixLength);
    }

    /// <summary>After a peek: the caller hashes the same bytes itself.</summary>
    public void StopHashing() => _hashing = false;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _count; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("an upload is read asynchronously");

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_prefixPosition < _prefixLength)
        {
            int given = Math.Min(buffer.Length, _prefixLength - _prefixPosition);
            _prefix.AsSpan(_prefixPosition, given).CopyTo(buffer.Span);
            _prefixPosition += given;
            return given;
        }
        int read;
        _stall.CancelAfter(_stallTimeout);
        try
        {
            read = await _body.ReadAsync(buffer, _stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stall.IsCancellationRequested && !_requestAborted.IsCancellationRequested)
        {
            throw new RequestRefusedException(408, $"the upload stalled: no byte for {_stallTimeout.TotalSeconds:0.#} s after {_count} bytes");
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e)
        {
            throw new RequestRefusedException(e.StatusCode, "the upload is malformed: " + e.Message);
        }
        _stall.CancelAfter(Timeout.InfiniteTimeSpan);
        cancellationToken.ThrowIfCancellationRequested();
        _count += read;
        if (_count > _maxBytes)
            throw TooLarge(_maxBytes);
        if (_hashing)
            _sha256.AppendData(buffer.Span[..read]);
        return read;
    }

    /// <summary>Reads to the body's end, discarding, and returns how many bytes there were after what was read.</summary>
    public async Task<long> DrainAsync(CancellationToken cancellationToken)
    {
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long drained = 0;
            int read;
            while ((read = await ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                drained += read;
            return drained;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public static RequestRefusedException TooLarge(long maxBytes) =>
        new(413, $"the upload is larger than the {maxBytes} bytes this server accepts");

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stall.Dispose();
            _sha256.Dispose();
        }
        base.Dispose(disposing);
    }
}
