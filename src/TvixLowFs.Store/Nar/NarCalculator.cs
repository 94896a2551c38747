using System.Buffers;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Nar;

/// <summary>
/// NAR size and SHA-256 of a node graph held in a blob and a directory service: the NAR is
/// streamed through <see cref="NarWriter"/> into the hash, a buffer of file contents at a time,
/// so neither the archive nor any file is ever held whole.
/// </summary>
public sealed class NarCalculator(IBlobService blobs, IDirectoryService directories)
{
    private const int ChunkSize = 256 * 1024;

    public async ValueTask<NarHash> CalculateAsync(Node node, CancellationToken cancellationToken = default)
    {
        DirectoryRules.ValidateNode(node, requireName: false);
        // Fetch the whole directory graph first: one recursive get (one round trip for a remote store).
        var graph = new Dictionary<B3Digest, Directory>();
        if (node.NodeCase == Node.NodeOneofCase.Directory)
        {
            await foreach (Directory directory in directories.GetRecursiveAsync(B3Digest.FromByteString(node.Directory.Digest), cancellationToken).ConfigureAwait(false))
                graph.TryAdd(DirectoryRules.Digest(directory), directory);
        }

        using var sink = new NarHasher();
        var nar = new NarWriter(sink);
        nar.WriteHeader();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            switch (node.NodeCase)
            {
                case Node.NodeOneofCase.Directory:
                    await WriteDirectoryAsync(nar, graph, B3Digest.FromByteString(node.Directory.Digest), buffer, cancellationToken).ConfigureAwait(false);
                    break;
                case Node.NodeOneofCase.File:
                    await WriteFileAsync(nar, node.File, buffer, cancellationToken).ConfigureAwait(false);
                    break;
                case Node.NodeOneofCase.Symlink:
                    nar.WriteSymlink(node.Symlink.Target.Span);
                    break;
                default:
                    throw new StoreValidationException("node is not set");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return new NarHash(sink.Size, sink.CurrentSha256());
    }

    private async ValueTask WriteDirectoryAsync(
        NarWriter nar, Dictionary<B3Digest, Directory> graph, B3Digest digest, byte[] buffer, CancellationToken cancellationToken)
    {
        if (!graph.TryGetValue(digest, out Directory? directory))
            throw new StoreNotFoundException($"directory {digest} not found");
        nar.BeginDirectory();
        foreach (DirectoryChild child in DirectoryRules.Children(directory))
        {
            nar.BeginEntry(child.Name.Span);
            switch (child.Kind)
            {
                case CastoreNodeKind.Directory:
                    await WriteDirectoryAsync(nar, graph, B3Digest.FromByteString(child.Directory!.Digest), buffer, cancellationToken).ConfigureAwait(false);
                    break;
                case CastoreNodeKind.File:
                    await WriteFileAsync(nar, child.File!, buffer, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    nar.WriteSymlink(child.Symlink!.Target.Span);
                    break;
            }
            nar.EndEntry();
        }
        nar.EndDirectory();
    }

    private async ValueTask WriteFileAsync(NarWriter nar, FileNode file, byte[] buffer, CancellationToken cancellationToken)
    {
        B3Digest digest = B3Digest.FromByteString(file.Digest);
        using BlobReader reader = await blobs.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreNotFoundException($"blob {digest} (file {NodeNames.Escape(file.Name.Span)}) not found");
        if ((ulong)reader.Length != file.Size)
            throw new StoreValidationException(
                $"file {NodeNames.Escape(file.Name.Span)} says {file.Size} bytes but blob {digest} has {reader.Length}");
        nar.BeginFile(file.Executable, file.Size);
        long offset = 0;
        while (offset < reader.Length)
        {
            int read = await reader.ReadAtAsync(offset, buffer.AsMemory(0, (int)Math.Min(buffer.Length, reader.Length - offset)), cancellationToken).ConfigureAwait(false);
            if (read == 0)
                throw new StoreUnavailableException($"blob {digest} ended at {offset} of {reader.Length} bytes");
            nar.WriteFileContents(buffer.AsSpan(0, read));
            offset += read;
        }
        nar.EndFile();
    }
}
