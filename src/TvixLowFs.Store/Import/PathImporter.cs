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
/// streamed, into write batches of a few thousand files, each committed while the next is read and
/// all before anything names them; the NAR is hashed from the same reads), then the directories (one graph put, leaves first), and only then the
/// PathInfo, so an interrupted import never leaves a PathInfo pointing at missing data.
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
        // The NAR is hashed from the bytes ingest reads, as it reads them: no second pass over the store.
        using var nar = new PlanNarHasher(plan);
        await using (var commits = new GroupedBlobCommits(store.Blobs, plan.Files))
        {
            try
            {
                await IngestFilesAsync(plan, commits, nar, progress, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                nar.Abort(e);
                // The first failure: a failed commit that stopped ingest, else the failed file, not a reader woken by it.
                commits.ThrowIfCommitFailed();
                nar.ThrowFirstFailure();
                throw;
            }
            // Every file durable and named before the directories naming them are written.
            await commits.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
        Node root = await StoreTreeAsync(plan.Root, cancellationToken).ConfigureAwait(false);

        NarHash narHash = await nar.Result.WaitAsync(cancellationToken).ConfigureAwait(false);
        Model.StorePath storePath = NixStorePathBuilder.ForSource(narHash.NarSha256, plan.Name);
        PathInfoRules.SetNodeName(root, ByteString.CopyFromUtf8(storePath.Basename));
        var pathInfo = new PathInfo
        {
            Node = root,
            Narinfo = new NARInfo { NarSize = narHash.NarSize, NarSha256 = ByteString.CopyFrom(narHash.NarSha256) },
        };
        return new PreparedImport(storePath, pathInfo);
    }

    /// <summary>Puts the PathInfo of a prepared import: from now on the store path exists.</summary>
    public async Task RegisterAsync(PreparedImport prepared, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        await store.PathInfos.PutAsync(prepared.PathInfo, cancellationToken).ConfigureAwait(false);
    }

    private async Task IngestFilesAsync(ImportPlan plan, GroupedBlobCommits commits, PlanNarHasher nar, Action<ImportProgress>? progress, CancellationToken cancellationToken)
    {
        int filesDone = 0;
        long bytesDone = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, commits.Failed);
        var options = new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = stop.Token };
        // Files are taken in plan (NAR) order, so the NAR hasher rarely waits and little is parked for it.
        await Parallel.ForEachAsync(plan.Files, options, async (file, token) =>
        {
            try
            {
                await IngestFileAsync(file, commits.BatchOf(file), nar, token).ConfigureAwait(false);
                commits.Closed(file);
            }
            catch (Exception e)
            {
                // At once, not after the loop: the other files' readers may be waiting for the NAR hasher.
                nar.Abort(e);
                throw;
            }
            long bytes = Interlocked.Add(ref bytesDone, file.Size);
            int files = Interlocked.Increment(ref filesDone);
            progress?.Invoke(new ImportProgress(files, plan.FileCount, bytes, plan.ByteCount));
        }).ConfigureAwait(false);
    }

    private static async Task IngestFileAsync(PlannedFile file, IBlobWriteBatch batch, PlanNarHasher nar, CancellationToken cancellationToken)
    {
        SafeFileHandle handle;
        try
        {
            handle = StoreFiles.OpenToRead(file.Path);
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
                    read = StoreFiles.Read(handle, buffer.AsSpan(0, ChunkSize), file.Path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ImportException(file.Path, $"cannot read the file: {SystemErrorText.Of(e)}");
                }
                if (read == 0)
                    break;
                // The NAR announced the listed size before the contents: a file that changed since cannot be stored consistently.
                if (offset + read > file.Size)
                    throw new ImportException(file.Path, $"changed while being imported (it grew past the {file.Size} bytes it had when listed)");
                await writer.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                nar.Add(file.Index, buffer.AsSpan(0, read));
                offset += read;
                // A short read that reaches the listed size is the end of a regular file: a small file takes one read.
                if (offset == file.Size && read < ChunkSize)
                    break;
            }
            if (offset != file.Size)
                throw new ImportException(file.Path, $"changed while being imported (it shrank from the {file.Size} bytes it had when listed to {offset})");
            file.Digest = await writer.CloseAsync(cancellationToken).ConfigureAwait(false);
            nar.Complete(file.Index);
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
        Size = (ulong)file.Size,
        Executable = file.Executable,
    };

    private static SymlinkNode SymlinkNodeOf(PlannedSymlink symlink) => new()
    {
        Name = UnsafeByteOperations.UnsafeWrap(symlink.Name),
        Target = UnsafeByteOperations.UnsafeWrap(symlink.Target),
    };
}
