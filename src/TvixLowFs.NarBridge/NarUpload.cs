using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using TvixLowFs.Store.BinaryCache;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.NarBridge;

/// <summary>
/// <c>/nar/&lt;file hash&gt;.nar[.xz|.zst|.bz2|.br]</c>, where <c>nix copy --to</c> puts a NAR: HEAD
/// says whether it was received; PUT decompresses the body as it streams in (by the URL's
/// extension; <c>.nar</c> by its first bytes, since Nix 2.8 names gzip NARs that too), ingests it
/// into blobs and directories, checks the body's SHA-256 against the URL, and only then remembers
/// it in <see cref="ReceivedNars"/> for the narinfo to name. Concurrent PUTs of one NAR ingest it
/// once: the later ones wait for the first and, if it succeeded, only read their bodies.
/// </summary>
internal sealed class NarUpload(StoreServices store, NarBridgeOptions options, ReceivedNars received, TimeProvider clock, ILogger logger)
{
    // Passed to NarCompression for ".nar": an unknown name makes it detect the method by the data's magic.
    private const string DetectedCompression = "none or gzip (.nar)";

    /// <summary>How many concurrent uploads one PUT waits out before giving up (each wait ends with that upload).</summary>
    private const int MaxWaits = 8;

    private readonly NarIngester _ingester = new(store.Blobs, store.Directories);
    private readonly Dictionary<string, Task> _inFlight = new(StringComparer.Ordinal);

    public void Head(HttpContext context, BridgeRoute route)
    {
        ReceivedNar nar = received.ByFileHash(route.Sha256) ?? throw new RequestRefusedException(StatusCodes.Status404NotFound, "no such NAR was received");
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = NarEndpoint.ContentType;
        context.Response.ContentLength = nar.FileSize;
    }

    public async Task PutAsync(HttpContext context, BridgeRoute route)
    {
        if (context.Request.ContentLength > options.MaxUploadBytes)
            throw UploadBodyStream.TooLarge(options.MaxUploadBytes);
        byte[] fileHash = route.Sha256!;
        string key = NixBase32.Encode(fileHash);
        await using var body = new UploadBodyStream(context.Request.Body, options.MaxUploadBytes, options.UploadStallTimeout, context.RequestAborted);
        for (int waits = 0; ; waits++)
        {
            if (received.ByFileHash(fileHash) is not null)
            {
                await body.DrainAsync(context.RequestAborted).ConfigureAwait(false);
                logger.LogDebug("NAR sha256:{FileHash} was received already; this upload's {Bytes} bytes were read and dropped", key, body.Count);
                TextResponse.Empty(context);
                return;
            }
            TaskCompletionSource? mine = null;
            Task? theirs;
            lock (_inFlight)
            {
                if (!_inFlight.TryGetValue(key, out theirs))
                {
                    mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _inFlight[key] = mine.Task;
                }
            }
            if (mine is null)
            {
                if (waits == MaxWaits)
                    throw new RequestRefusedException(StatusCodes.Status409Conflict, $"{MaxWaits} concurrent uploads of this NAR failed; send it again");
                logger.LogDebug("NAR sha256:{FileHash}: waiting for the upload of it in progress", key);
                await theirs!.WaitAsync(context.RequestAborted).ConfigureAwait(false);
                continue;
            }
            try
            {
                ReceivedNar nar = await IngestAsync(body, route, context.RequestAborted).ConfigureAwait(false);
                received.Add(nar);
                logger.LogDebug("received NAR sha256:{FileHash} ({FileSize} bytes): NarHash sha256:{NarHash}, NarSize {NarSize}",
                    key, nar.FileSize, NixBase32.Encode(nar.NarSha256), nar.NarSize);
            }
            finally
            {
                lock (_inFlight)
                    _inFlight.Remove(key);
                mine.SetResult();
            }
            TextResponse.Empty(context);
            return;
        }
    }

    private async Task<ReceivedNar> IngestAsync(UploadBodyStream body, BridgeRoute route, CancellationToken cancellationToken)
    {
        string compression = route.Compression!;
        bool uncompressed = false;
        if (compression.Length == 0)
        {
            // ".nar": uncompressed or gzip. Uncompressed, the file hash is the NarHash the reader computes anyway.
            ReadOnlyMemory<byte> prefix = await body.PeekAsync(NarMagic.Length, cancellationToken).ConfigureAwait(false);
            uncompressed = prefix.Span.SequenceEqual(NarMagic);
            compression = uncompressed ? "none" : DetectedCompression;
            if (uncompressed)
                body.StopHashing();
            else
                body.KeepHashing();
        }
        NarIngestResult result;
        // The decoder must not close the body: it is read to its end and hashed after the NAR.
        Stream decoded = NarCompression.Open(new KeptOpenStream(body), compression);
        try
        {
            result = await _ingester.IngestAsync(decoded, (ulong)options.MaxUploadBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidNarException e) when (e.ExceedsSizeBound)
        {
            // A file entry may declare a size past the bound before that many bytes have arrived.
            throw UploadBodyStream.TooLarge(options.MaxUploadBytes);
        }
        catch (InvalidNarException e)
        {
            throw new RequestRefusedException(StatusCodes.Status400BadRequest, "not a valid NAR: " + e.Message);
        }
        catch (InvalidDataException e)
        {
            throw new RequestRefusedException(StatusCodes.Status400BadRequest, $"the {compression} data is corrupt: {e.Message}");
        }
        catch (StoreValidationException e)
        {
            throw new RequestRefusedException(StatusCodes.Status400BadRequest, e.Message);
        }
        finally
        {
            await decoded.DisposeAsync().ConfigureAwait(false);
        }
        long after = await body.DrainAsync(cancellationToken).ConfigureAwait(false);
        if (after != 0)
            throw new RequestRefusedException(StatusCodes.Status400BadRequest, $"{after} bytes follow the compressed NAR");
        byte[] actual = uncompressed ? result.NarSha256 : body.Sha256();
        if (!actual.AsSpan().SequenceEqual(route.Sha256))
            throw new RequestRefusedException(StatusCodes.Status400BadRequest,
                $"the body's SHA-256 is sha256:{NixBase32.Encode(actual)}, its URL names sha256:{NixBase32.Encode(route.Sha256)}");
        return new ReceivedNar(actual, body.Count, result.NarSize, result.NarSha256, result.Root, clock.GetUtcNow());
    }

    // An uncompressed NAR starts with the string "nix-archive-1": its length (13, u64 little-endian), then the text.
    private static ReadOnlySpan<byte> NarMagic => [13, 0, 0, 0, 0, 0, 0, 0, (byte)'n', (byte)'i', (byte)'x', (byte)'-'];

    /// <summary>The body, lent to a decoder that disposes what it reads from.</summary>
    private sealed class KeptOpenStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(buffer, cancellationToken);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
