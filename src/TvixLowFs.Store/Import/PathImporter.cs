using System.Buffers;
using Google.Protobuf;
using Microsoft.Win32.SafeHandles;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Import;

/// <summary>A path whose data is stored and whose PathInfo is ready to be put.</summary>
public sealed record PreparedImport(Model.StorePath StorePath, PathInfo PathInfo);

/// <summary>How far an import has got.</summary>
public readonly record struct ImportProgress(int FilesDone, int FilesTotal, long BytesDone, long BytesTotal);

/// <summary>
/// <c>tvixlowfs import</c>: stores a planned path and registers it under the store path
/// <c>nix-store --add</c> would give. Order matters for crash safety: file contents (in parallel,
/// streamed, into one write batch committed before anything names them), then the directories (one graph put, leaves first), then the NAR hash, and only then
/// the PathInfo, so an interrupted import never leaves a PathInfo pointing at missing data.
/// </summary>
public sealed class PathImporter(StoreServices store, int maxParallelism = 0)
{
    private const int ChunkSize = 256 * 1024;

    // Two files in flight per core keep the disk busy while the other hashes.
    private readonly int _parallelism = maxParallelism > 0 ? maxParallelism : Math.Max(2, 2 * Environment.ProcessorCount);

    public async Task<Model.StorePath> ImportAsync(string path, Action<ImportProgress>? progress = null, CancellationToken cancellationToken = default) =>
        await ImportAsync(ImportPlan.Create(path), progress, cancellationToken).ConfigureAwait(false);

    public async Task<Model.StorePath> ImportAsync(ImportPlan plan, Action<ImportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        PreparedImport prepared = await PrepareAsync(plan, progress, cancellationToken).ConfigureAwait(false);
        await RegisterAsync(prepared, cancellationToken).ConfigureAwait(false);
        return prepared.StorePath;
    }

    /// <summary>
    /// Stores the contents and directories of a plan and computes its store path, without
    /// registering it: several paths can be prepared and then registered only if all succeeded.
    /// </summary>
    public async Task<PreparedImport> PrepareAsync(ImportPlan plan, Action<ImportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        await using (IBlobWriteBatch batch = BlobWriteBatch.Begin(store.Blobs))
        {
            await IngestFilesAsync(plan, batch, progress, cancellationToken).ConfigureAwait(false);
            // Every file durable and named before the directories naming them are written.
            await batch.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        Node root = await StoreTreeAsync(plan.Root, cancellationToken).ConfigureAwait(false);

        NarHash nar = await store.PathInfos.CalculateNarAsync(root, cancellationToken).ConfigureAwait(false);
        Model.StorePath storePath = NixStorePathBuilder.ForSource(nar.NarSha256, plan.Name);
        PathInfoRules.SetNodeName(root, ByteString.CopyFromUtf8(storePath.Basename));
        var pathInfo = new PathInfo
        {
            Node = root,
            Narinfo = new NARInfo { NarSize = nar.NarSize, NarSha256 = ByteString.CopyFrom(nar.NarSha256) },
        };
        return new PreparedImport(storePath, pathInfo);
    }

    /// <summary>Puts the PathInfo of a prepared import: from now on the store path exists.</summary>
    public async Task RegisterAsync(PreparedImport prepared, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        await store.PathInfos.PutAsync(prepared.PathInfo, cancellationToken).ConfigureAwait(false);
    }

    private async Task IngestFilesAsync(ImportPlan plan, IBlobWriteBatch batch, Action<ImportProgress>? progress, CancellationToken cancellationToken)
    {
        int filesDone = 0;
        long bytesDone = 0;
        var options = new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(plan.Files, options, async (file, token) =>
        {
            await IngestFileAsync(file, batch, token).ConfigureAwait(false);
            long bytes = Interlocked.Add(ref bytesDone, file.StoredSize);
            int files = Interlocked.Increment(ref filesDone);
            progress?.Invoke(new ImportProgress(files, plan.FileCount, bytes, plan.ByteCount));
        }).ConfigureAwait(false);
    }

    private static async Task IngestFileAsync(PlannedFile file, IBlobWriteBatch batch, CancellationToken cancellationToken)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImportException(file.Path, $"cannot open the file: {SystemErrorText.Of(e)}");
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            await using BlobWriter writer = batch.OpenWrite();
            long offset = 0;
            while (true)
            {
                int read;
                try
                {
                    read = RandomAccess.Read(handle, buffer.AsSpan(0, ChunkSize), offset);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ImportException(file.Path, $"cannot read the file: {SystemErrorText.Of(e)}");
                }
                if (read == 0)
                    break;
                await writer.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                offset += read;
            }
            // What was read is what is stored and hashed: a file changing under us cannot make them disagree.
            file.Digest = await writer.CloseAsync(cancellationToken).ConfigureAwait(false);
            file.StoredSize = offset;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            handle.Dispose();
        }
    }

    /// <summary>Puts the directories (if any) and returns the root node, still without its store path name.</summary>
    private async Task<Node> StoreTreeAsync(PlannedNode root, CancellationToken cancellationToken)
    {
        switch (root)
        {
            case PlannedFile file:
                return new Node { File = FileNodeOf(file) };
            case PlannedSymlink symlink:
                return new Node { Symlink = SymlinkNodeOf(symlink) };
            default:
                await using (IDirectoryPutter putter = store.Directories.BeginPut())
                {
                    DirectoryNode node = await PutDirectoryAsync(putter, (PlannedDirectory)root, cancellationToken).ConfigureAwait(false);
                    await putter.CloseAsync(cancellationToken).ConfigureAwait(false);
                    return new Node { Directory = node };
                }
        }
    }

    private static async Task<DirectoryNode> PutDirectoryAsync(IDirectoryPutter putter, PlannedDirectory planned, CancellationToken cancellationToken)
    {
        var directory = new Directory();
        // Children are sorted bytewise, so each of the three lists comes out sorted too.
        foreach (PlannedNode child in planned.Children)
        {
            switch (child)
            {
                case PlannedDirectory subdirectory:
                    directory.Directories.Add(await PutDirectoryAsync(putter, subdirectory, cancellationToken).ConfigureAwait(false));
                    break;
                case PlannedFile file:
                    directory.Files.Add(FileNodeOf(file));
                    break;
                case PlannedSymlink symlink:
                    directory.Symlinks.Add(SymlinkNodeOf(symlink));
                    break;
            }
        }
        B3Digest digest = await putter.PutAsync(directory, cancellationToken).ConfigureAwait(false);
        return new DirectoryNode
        {
            Name = UnsafeByteOperations.UnsafeWrap(planned.Name),
            Digest = digest.ToByteString(),
            Size = DirectoryRules.Size(directory),
        };
    }

    private static FileNode FileNodeOf(PlannedFile file) => new()
    {
        Name = UnsafeByteOperations.UnsafeWrap(file.Name),
        Digest = file.Digest.ToByteString(),
        Size = (ulong)file.StoredSize,
        Executable = file.Executable,
    };

    private static SymlinkNode SymlinkNodeOf(PlannedSymlink symlink) => new()
    {
        Name = UnsafeByteOperations.UnsafeWrap(symlink.Name),
        Target = UnsafeByteOperations.UnsafeWrap(symlink.Target),
    };
}
