using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Nar;

/// <summary>
/// Turns a NAR stream into blobs and Directory messages in any blob and directory service: the
/// model's <see cref="NarReader"/> validates the archive event by event; each regular file is
/// streamed into a <see cref="BlobWriter"/> (never whole in memory) and each directory becomes a
/// Directory put, leaves first, in one <see cref="IDirectoryPutter"/> graph put that is closed only
/// after the archive has been read to its verified end.
/// </summary>
/// <remarks>
/// The blobs go into one write batch (<see cref="BlobWriteBatch"/>): a local store names them all
/// with a few syncs when the archive has been read, before the graph put names any of them, and
/// its closes only finish the hash, so they run inline. Other blob closes (a remote store: a round
/// trip) overlap the reading: up to
/// <see cref="MaxOutstandingCloses"/> run at once on their own threads (<see cref="BlobCloseQueue"/>),
/// and a directory waits only for its own files' closes before it is put. Nothing but
/// content-addressed blobs and directories is written, so a failed ingest leaves nothing any store
/// path names: directories are stored only by the final close of the graph put, a local store's
/// uncommitted blobs are deleted with their batch, and a blob stored early is harmless garbage at worst.
/// </remarks>
public sealed class NarIngester(IBlobService blobs, IDirectoryService directories)
{
    /// <summary>
    /// How many blob closes may run at once. Small files dominate real NARs and each local close
    /// waits for the disk twice; 16 keeps a disk's queue busy without a thread per file.
    /// </summary>
    public const int MaxOutstandingCloses = 16;

    private sealed class OpenDirectory(ByteString name, long closeMark)
    {
        public ByteString Name { get; } = name;
        public long CloseMark { get; } = closeMark;
        public Directory Directory { get; } = new();
    }

    /// <summary>
    /// Reads exactly one NAR from <paramref name="nar"/> (the decompressed stream), writing every regular
    /// file as a blob and every directory as a Directory (one graph put, leaves first, root last).
    /// Returns the root node with an empty name, plus the NAR's size and SHA-256 over every byte
    /// consumed. Reads at most <paramref name="maxNarSize"/> bytes (+1 to see that nothing follows):
    /// a longer NAR fails as soon as that is known. Trailing bytes fail. Any invalid NAR throws
    /// <see cref="InvalidNarException"/> saying what and at which byte.
    /// </summary>
    public async Task<NarIngestResult> IngestAsync(Stream nar, ulong maxNarSize, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nar);
        using var reader = new NarReader(nar, maxNarSize);
        using var closes = new BlobCloseQueue(MaxOutstandingCloses);
        await using IBlobWriteBatch batch = BlobWriteBatch.Begin(blobs);
        IDirectoryPutter? putter = null;
        try
        {
            var open = new Stack<OpenDirectory>();
            Node? root = null;
            while (true)
            {
                NarEvent next = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                switch (next)
                {
                    case NarEvent.Directory:
                        putter ??= directories.BeginPut();
                        open.Push(new OpenDirectory(ByteString.CopyFrom(reader.Name), closes.Mark));
                        break;
                    case NarEvent.File:
                    {
                        var file = new FileNode
                        {
                            Name = ByteString.CopyFrom(reader.Name),
                            Size = reader.FileSize,
                            Executable = reader.Executable,
                        };
                        await WriteBlobAsync(reader, batch, file, closes, cancellationToken).ConfigureAwait(false);
                        if (open.TryPeek(out OpenDirectory? parent))
                            parent.Directory.Files.Add(file);
                        else
                            root = new Node { File = file };
                        break;
                    }
                    case NarEvent.Symlink:
                    {
                        var symlink = new SymlinkNode { Name = ByteString.CopyFrom(reader.Name), Target = ByteString.CopyFrom(reader.Target) };
                        if (open.TryPeek(out OpenDirectory? parent))
                            parent.Directory.Symlinks.Add(symlink);
                        else
                            root = new Node { Symlink = symlink };
                        break;
                    }
                    case NarEvent.EndDirectory:
                    {
                        OpenDirectory done = open.Pop();
                        // Its files' digests must be known before the Directory naming them is hashed.
                        await closes.CompleteFromAsync(done.CloseMark).ConfigureAwait(false);
                        B3Digest digest = await putter!.PutAsync(done.Directory, cancellationToken).ConfigureAwait(false);
                        var node = new DirectoryNode
                        {
                            Name = done.Name,
                            Digest = digest.ToByteString(),
                            Size = DirectoryRules.Size(done.Directory),
                        };
                        if (open.TryPeek(out OpenDirectory? parent))
                            parent.Directory.Directories.Add(node);
                        else
                            root = new Node { Directory = node };
                        break;
                    }
                    case NarEvent.End:
                        await closes.CompleteFromAsync(0).ConfigureAwait(false);
                        // Every blob durable and named before any Directory naming one is.
                        await batch.CommitAsync(cancellationToken).ConfigureAwait(false);
                        if (putter is not null)
                            await putter.CloseAsync(cancellationToken).ConfigureAwait(false);
                        return new NarIngestResult(
                            root ?? throw new InvalidOperationException("the NAR reader ended without a root node"),
                            reader.NarSize,
                            reader.NarSha256);
                }
            }
        }
        finally
        {
            // On success every close is done already; after a failure none may outlive this call.
            await closes.DrainAsync().ConfigureAwait(false);
            if (putter is not null)
                await putter.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async ValueTask WriteBlobAsync(NarReader reader, IBlobWriteBatch batch, FileNode file, BlobCloseQueue closes, CancellationToken cancellationToken)
    {
        BlobWriter writer = batch.OpenWrite();
        try
        {
            if (file.Size >= PipelinedFileSize)
                await CopyPipelinedAsync(reader, writer, cancellationToken).ConfigureAwait(false);
            else
            {
                while (true)
                {
                    ReadOnlyMemory<byte> chunk = await reader.ReadFileContentsAsync(cancellationToken).ConfigureAwait(false);
                    if (chunk.IsEmpty)
                        break;
                    await writer.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch
        {
            await writer.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        if (batch.ClosesWithoutWaiting)
        {
            // Only the hash is left to finish: a hand-over to another thread would cost more.
            await using (writer.ConfigureAwait(false))
                file.Digest = (await writer.CloseAsync(cancellationToken).ConfigureAwait(false)).ToByteString();
            return;
        }
        // The queue owns the writer from here: it closes it, fills file.Digest and disposes it.
        await closes.StartAsync(writer, file, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Files from this size on are written while the next chunk is read (and SHA-256 hashed).</summary>
    private const ulong PipelinedFileSize = 1 << 20;

    /// <summary>
    /// A large file's chunks are copied out of the reader's buffer and written (BLAKE3 and the write
    /// itself, for a local blob) on the thread pool while the reader fetches and hashes the next one:
    /// the two halves of the work per byte then run on two cores. One write at a time, in order.
    /// </summary>
    private static async ValueTask CopyPipelinedAsync(NarReader reader, BlobWriter writer, CancellationToken cancellationToken)
    {
        byte[] current = System.Buffers.ArrayPool<byte>.Shared.Rent(NarReader.DefaultBufferSize);
        byte[] other = System.Buffers.ArrayPool<byte>.Shared.Rent(NarReader.DefaultBufferSize);
        Task writing = Task.CompletedTask;
        try
        {
            while (true)
            {
                ReadOnlyMemory<byte> chunk = await reader.ReadFileContentsAsync(cancellationToken).ConfigureAwait(false);
                if (chunk.IsEmpty)
                    break;
                while (!chunk.IsEmpty)
                {
                    int n = Math.Min(chunk.Length, current.Length);
                    chunk.Span[..n].CopyTo(current);
                    chunk = chunk[n..];
                    await writing.ConfigureAwait(false);
                    byte[] filled = current;
                    writing = Task.Run(() => writer.WriteAsync(filled.AsMemory(0, n), cancellationToken).AsTask(), cancellationToken);
                    (current, other) = (other, current);
                }
            }
            await writing.ConfigureAwait(false);
        }
        finally
        {
            // Never hand a buffer back while a write may still read it.
            try
            {
                await writing.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Already thrown to the caller above, or superseded by the error that got us here.
            }
            System.Buffers.ArrayPool<byte>.Shared.Return(current);
            System.Buffers.ArrayPool<byte>.Shared.Return(other);
        }
    }
}
