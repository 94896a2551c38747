using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// The body of one GET of a cache file, delivered exactly once: when a read fails transiently
/// (reset, closed early, stall, 5xx on resuming) the rest is asked for with <c>Range: bytes=N-</c>
/// (with If-Range when the server sent a strong ETag or Last-Modified) and reading goes on. A server
/// that answers 200 instead (it ignores Range, as python's http.server does) sends the whole file
/// again and the bytes already delivered are skipped, when its length (and ETag) match; a 206 for
/// another range fails. Each read is one execution of the client's retry pipeline, so MaxAttempts
/// bounds consecutive attempts without progress. Not thread-safe, like any stream.
/// </summary>
internal sealed class ResumableHttpStream(BinaryCacheHttpClient client, Uri uri) : Stream
{
    private const int SkipBufferSize = 64 * 1024;

    private HttpResponseMessage? _response;
    private Stream? _body;
    // Bounds each body read (re-armed per read); not linked to a caller's token, which each read registers.
    private CancellationTokenSource _stall = new();
    private long _position;
    private long? _length;
    private long _skip;
    private EntityTagHeaderValue? _etag;
    private DateTimeOffset? _lastModified;
    private bool _ended;
    private bool _disposed;

    /// <summary>The NarCompression method of a Content-Encoding the server applied, or null.</summary>
    public string? ContentEncoding { get; private set; }

    /// <summary>The first request: absent (404/403/410) is a StoreNotFoundException; transient failures throw TransientHttpException for the retry pipeline.</summary>
    internal async ValueTask OpenAsync(CancellationToken cancellationToken)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        HttpResponseMessage? response = await client.SendAsync(uri, 0, null, stall, cancellationToken).ConfigureAwait(false);
        try
        {
            if (BinaryCacheHttpClient.IsAbsent(response.StatusCode))
                throw new StoreNotFoundException($"GET {uri}: HTTP {(int)response.StatusCode} (absent)");
            if (!response.IsSuccessStatusCode || response.StatusCode == HttpStatusCode.PartialContent) client.ThrowForStatus(response, uri);
            ContentEncoding = BinaryCacheHttpClient.ContentEncodingMethod(response, uri);
            _length = response.Content.Headers.ContentLength;
            _etag = response.Headers.ETag;
            _lastModified = response.Content.Headers.LastModified;
            _body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            _response = response;
            response = null;
        }
        finally
        {
            response?.Dispose();
        }
    }

    /// <summary>Asks for the rest after a failed read.</summary>
    private async ValueTask ResumeAsync(CancellationToken cancellationToken)
    {
        if (_stall.IsCancellationRequested)
        {
            _stall.Dispose();
            _stall = new CancellationTokenSource();
        }
        RangeConditionHeaderValue? ifRange = _etag is { IsWeak: false } etag ? new RangeConditionHeaderValue(etag)
            : _lastModified is { } modified ? new RangeConditionHeaderValue(modified)
            : null;
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        HttpResponseMessage? response = await client.SendAsync(uri, _position, ifRange, stall, cancellationToken).ConfigureAwait(false);
        try
        {
            string at = $"resuming at byte {_position}{(_length is long total ? $" of {total}" : "")}";
            if (response.StatusCode == HttpStatusCode.PartialContent)
            {
                ContentRangeHeaderValue? range = response.Content.Headers.ContentRange;
                if (range is not { HasRange: true } || range.Unit != "bytes" || range.From != _position
                    || (_length is long expected && range.Length is long length && length != expected))
                    throw new StoreUnavailableException($"GET {uri}: asked for bytes={_position}-, the server sent the range '{range}' ({at})");
                _skip = 0;
            }
            else if (response.StatusCode == HttpStatusCode.OK)
            {
                // The whole file again: right only if it is the same file.
                if (_length is long expected && response.Content.Headers.ContentLength is long now && now != expected)
                    throw new StoreUnavailableException($"GET {uri}: the file changed length from {expected} to {now} bytes ({at})");
                if (_etag is not null && response.Headers.ETag is { } now2 && !now2.Equals(_etag))
                    throw new StoreUnavailableException($"GET {uri}: the file changed (ETag {_etag} is now {now2}) ({at})");
                _skip = _position;
            }
            else if (BinaryCacheHttpClient.IsAbsent(response.StatusCode))
            {
                throw new StoreUnavailableException($"GET {uri}: HTTP {(int)response.StatusCode} ({at})");
            }
            else
            {
                client.ThrowForStatus(response, uri);
            }
            if (BinaryCacheHttpClient.ContentEncodingMethod(response, uri) != ContentEncoding)
                throw new StoreUnavailableException($"GET {uri}: the Content-Encoding changed ({at})");
            _body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            _response = response;
            response = null;
        }
        finally
        {
            response?.Dispose();
        }
    }

    /// <summary>One attempt of one read: resumes first if the last attempt broke the body.</summary>
    private async ValueTask<int> ReadOnceAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_ended) return 0;
        try
        {
            if (_body is null) await ResumeAsync(cancellationToken).ConfigureAwait(false);
            Stream body = _body!;
            if (_skip > 0) await SkipAsync(body, cancellationToken).ConfigureAwait(false);
            int n = await ReadBodyAsync(body, buffer, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                if (_length is long length && _position < length)
                    throw new TransientHttpException(uri, $"the body ended at byte {_position} of {length}");
                _ended = true;
                DropBody();
                return 0;
            }
            _position += n;
            return n;
        }
        catch (TransientHttpException)
        {
            DropBody();
            throw;
        }
    }

    private async ValueTask SkipAsync(Stream body, CancellationToken cancellationToken)
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(SkipBufferSize);
        try
        {
            while (_skip > 0)
            {
                int n = await ReadBodyAsync(body, scratch.AsMemory(0, (int)Math.Min(_skip, scratch.Length)), cancellationToken).ConfigureAwait(false);
                if (n == 0) throw new TransientHttpException(uri, $"the body ended at byte {_position - _skip} of the whole file sent again");
                _skip -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private async ValueTask<int> ReadBodyAsync(Stream body, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        CancellationTokenRegistration registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static stall => ((CancellationTokenSource)stall!).Cancel(), _stall)
            : default;
        try
        {
            _stall.CancelAfter(client.Options.StallTimeout);
            int n = await body.ReadAsync(buffer, _stall.Token).ConfigureAwait(false);
            client.CountBytes(n);
            return n;
        }
        catch (Exception failure) when (failure is HttpRequestException or IOException or OperationCanceledException)
        {
            throw client.Transient(uri, failure, _stall, cancellationToken);
        }
        finally
        {
            // Disarmed between reads: a slow consumer is no stalled server.
            if (!_stall.IsCancellationRequested) _stall.CancelAfter(Timeout.InfiniteTimeSpan);
            await registration.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void DropBody()
    {
        _body?.Dispose();
        _body = null;
        _response?.Dispose();
        _response = null;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty) return 0;
        try
        {
            return await client.Retry.ExecuteAsync(
                static (state, token) => state.Stream.ReadOnceAsync(state.Buffer, token),
                (Stream: this, Buffer: buffer), cancellationToken).ConfigureAwait(false);
        }
        catch (TransientHttpException failure)
        {
            throw client.GaveUp(failure);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Synchronous reads block on the asynchronous path (the retry pipeline is asynchronous).
    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override int Read(Span<byte> buffer)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int n = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            DropBody();
            _stall.Dispose();
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => !_disposed;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
