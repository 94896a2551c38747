using System.Buffers;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using StorePath = TvixLowFs.Store.Model.StorePath;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Copy;

/// <summary>
/// Another tvix store (local://, grpc+…) as a copy source: each path's directories are fetched
/// with one recursive get (verified by the source's client) and put leaves first, each blob the
/// destination lacks is streamed across and its digest checked, and the PathInfo is put last.
/// </summary>
public sealed class StoreServicesSource(StoreServices source, StoreServices destination) : ISubstitutionSource
{
    private long _bytesReceived;

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public async Task<SubstitutionCandidate?> LookUpAsync(StorePathHash hash, CancellationToken cancellationToken)
    {
        PathInfo? pathInfo = await source.PathInfos.GetAsync(hash, cancellationToken).ConfigureAwait(false);
        if (pathInfo is null)
            return null;
        StorePath storePath = PathInfoRules.Validate(pathInfo);
        if (storePath.Hash != hash)
            return null; // a PathInfo under another path's key is not this path
        StorePathHash[] references = pathInfo.References.Select(r => StorePathHash.FromBytes(r.Span)).ToArray();
        return new SubstitutionCandidate(storePath, references, pathInfo.Narinfo?.NarSize ?? 0, pathInfo);
    }

    public async Task<PathInfo> CopyAsync(SubstitutionCandidate candidate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var pathInfo = (PathInfo)candidate.SourceState;
        Node root = pathInfo.Node;
        var files = new List<FileNode>();
        if (root.NodeCase == Node.NodeOneofCase.File)
            files.Add(root.File);
        else if (root.NodeCase == Node.NodeOneofCase.Directory)
        {
            var rootDigest = B3Digest.FromByteString(root.Directory.Digest);
            var graph = new Dictionary<B3Digest, VerifiedDirectory>();
            await foreach (VerifiedDirectory directory in source.Directories.GetRecursiveAsync(rootDigest, cancellationToken).ConfigureAwait(false))
            {
                graph[directory.Digest] = directory;
                files.AddRange(directory.Message.Files);
            }
            // Contents first, then the directories naming them, then the PathInfo: a crash leaves no name pointing at nothing.
            await CopyBlobsAsync(files, cancellationToken).ConfigureAwait(false);
            await using IDirectoryPutter putter = destination.Directories.BeginPut();
            foreach (VerifiedDirectory directory in DirectoryGraph.LeavesFirst(rootDigest, graph))
                await putter.PutAsync(directory.Message, cancellationToken).ConfigureAwait(false);
            await putter.CloseAsync(cancellationToken).ConfigureAwait(false);
            return await destination.PathInfos.PutAsync(pathInfo, cancellationToken).ConfigureAwait(false);
        }
        await CopyBlobsAsync(files, cancellationToken).ConfigureAwait(false);
        return await destination.PathInfos.PutAsync(pathInfo, cancellationToken).ConfigureAwait(false);
    }

    private async Task CopyBlobsAsync(List<FileNode> files, CancellationToken cancellationToken)
    {
        var seen = new HashSet<B3Digest>();
        foreach (FileNode file in files)
        {
            var digest = B3Digest.FromByteString(file.Digest);
            if (!seen.Add(digest) || await destination.Blobs.StatAsync(digest, cancellationToken).ConfigureAwait(false) is not null)
                continue;
            await CopyBlobAsync(digest, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task CopyBlobAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        using BlobReader reader = await source.Blobs.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreNotFoundException($"blob {digest} is not in the source store");
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BlobChunks.Size);
        try
        {
            await using BlobWriter writer = destination.Blobs.OpenWrite();
            await BlobChunks.ReadAllAsync(reader, digest, buffer, (writer, source: this), static async (s, chunk, token) =>
            {
                await s.writer.WriteAsync(chunk, token).ConfigureAwait(false);
                Interlocked.Add(ref s.source._bytesReceived, chunk.Length);
            }, cancellationToken).ConfigureAwait(false);
            B3Digest stored = await writer.CloseAsync(cancellationToken).ConfigureAwait(false);
            if (stored != digest)
                throw new StoreValidationException($"blob {digest} from the source hashes to {stored}");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public ValueTask DisposeAsync() => source.DisposeAsync();
}
