namespace TvixLowFs.Store.Services;

/// <summary>
/// The one loop that reads a whole blob front to back in chunks (NAR hashing, content address
/// checks, copies; the NAR bridge keeps its own, which reads into the response pipe's memory and
/// allocated per chunk through this one): each chunk is read into the memory <c>bufferFor</c> gives and handed
/// to <c>consume</c>; a blob that ends before its length is a store fault. The state argument
/// keeps callers' delegates static (no closure per blob).
/// </summary>
public static class BlobChunks
{
    /// <summary>The chunk size every whole-blob read uses.</summary>
    public const int Size = 256 * 1024;

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    public static async ValueTask ReadAllAsync<TState>(
        BlobReader reader, Model.B3Digest digest, TState state,
        Func<TState, int, Memory<byte>> bufferFor,
        Func<TState, ReadOnlyMemory<byte>, CancellationToken, ValueTask> consume,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        for (long offset = 0; offset < reader.Length;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int want = (int)Math.Min(Size, reader.Length - offset);
            Memory<byte> into = bufferFor(state, want);
            int read = await reader.ReadAtAsync(offset, into[..Math.Min(want, into.Length)], cancellationToken).ConfigureAwait(false);
            if (read == 0)
                throw new StoreUnavailableException($"blob {digest} ended at byte {offset} of {reader.Length}");
            await consume(state, into[..read], cancellationToken).ConfigureAwait(false);
            offset += read;
        }
    }

    /// <summary>The same over one buffer the caller owns (at least <see cref="Size"/> bytes).</summary>
    public static ValueTask ReadAllAsync<TState>(
        BlobReader reader, Model.B3Digest digest, byte[] buffer, TState state,
        Func<TState, ReadOnlyMemory<byte>, CancellationToken, ValueTask> consume,
        CancellationToken cancellationToken) =>
        ReadAllAsync(reader, digest, (buffer, state, consume), static (s, want) => s.buffer.AsMemory(0, want),
            static (s, chunk, token) => s.consume(s.state, chunk, token), cancellationToken);
}
