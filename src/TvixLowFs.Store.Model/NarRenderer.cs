using TvixLowFs.Protos.Castore;

namespace TvixLowFs.Store.Model;

/// <summary>Fetches the Directory with this digest (verified where it was read); null when the store does not have it.</summary>
public delegate ValueTask<VerifiedDirectory?> DirectoryLookup(B3Digest digest, CancellationToken cancellationToken);

/// <summary>
/// Streams the blob with this digest into <paramref name="writer"/> with
/// <see cref="NarWriter.WriteFileContentsAsync"/> (exactly <paramref name="size"/> bytes are expected).
/// </summary>
public delegate ValueTask BlobContentsWriter(B3Digest digest, ulong size, NarWriter writer, CancellationToken cancellationToken);

/// <summary>
/// Writes the NAR of a castore node graph (what CalculateNAR and <c>import</c> hash), fetching
/// Directories and blob contents through the caller's delegates. The walk uses an explicit stack,
/// so a deep tree cannot exhaust the thread's stack.
/// </summary>
/// <remarks>
/// Every Directory is checked before it is used: its digest must be the one asked for (it is valid,
/// being verified, and is not hashed again here), and its size must match the node that points at it. A blob that yields more or fewer bytes
/// than its node says is reported too. All of these throw <see cref="StoreValidationException"/>
/// naming the digest; a missing Directory throws <see cref="StoreValidationException"/> as well.
/// </remarks>
public static class NarRenderer
{
    /// <summary>Writes the whole archive (header and root node) of <paramref name="root"/>; its name is ignored.</summary>
    public static async ValueTask WriteAsync(
        NarWriter writer, Node root, DirectoryLookup getDirectory, BlobContentsWriter writeBlob,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(getDirectory);
        ArgumentNullException.ThrowIfNull(writeBlob);
        DirectoryRules.ValidateNode(root, requireName: false);

        writer.WriteHeader();
        var open = new Stack<Frame>();
        switch (root.NodeCase)
        {
            case Node.NodeOneofCase.Symlink:
                writer.WriteSymlink(root.Symlink.Target.Span);
                return;
            case Node.NodeOneofCase.File:
                await WriteFileAsync(writer, root.File, writeBlob, cancellationToken).ConfigureAwait(false);
                return;
            default:
                open.Push(await OpenDirectoryAsync(writer, root.Directory, getDirectory, cancellationToken).ConfigureAwait(false));
                break;
        }

        while (open.Count > 0)
        {
            var frame = open.Peek();
            if (frame.Next == frame.Children.Length)
            {
                writer.EndDirectory();
                open.Pop();
                if (open.Count > 0)
                    writer.EndEntry();
                continue;
            }
            var child = frame.Children[frame.Next++];
            writer.BeginEntry(child.Name.Span);
            switch (child.Kind)
            {
                case CastoreNodeKind.Symlink:
                    writer.WriteSymlink(child.Symlink!.Target.Span);
                    writer.EndEntry();
                    break;
                case CastoreNodeKind.File:
                    await WriteFileAsync(writer, child.File!, writeBlob, cancellationToken).ConfigureAwait(false);
                    writer.EndEntry();
                    break;
                default:
                    // EndEntry follows when this directory's frame is popped.
                    open.Push(await OpenDirectoryAsync(writer, child.Directory!, getDirectory, cancellationToken).ConfigureAwait(false));
                    break;
            }
        }
    }

    private sealed class Frame(DirectoryChild[] children)
    {
        public DirectoryChild[] Children { get; } = children;
        public int Next { get; set; }
    }

    private static async ValueTask<Frame> OpenDirectoryAsync(
        NarWriter writer, DirectoryNode node, DirectoryLookup getDirectory, CancellationToken cancellationToken)
    {
        var digest = B3Digest.FromByteString(node.Digest);
        var directory = await getDirectory(digest, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreValidationException($"directory {digest} (entry {NodeNames.Escape(node.Name.Span)}) is not in the store");
        if (directory.Digest != digest)
            throw new StoreValidationException($"directory {digest}: the Directory received is {directory.Digest}");
        directory.CheckReferredBy(node);
        writer.BeginDirectory();
        return new Frame(directory.Children.ToArray());
    }

    private static async ValueTask WriteFileAsync(
        NarWriter writer, FileNode node, BlobContentsWriter writeBlob, CancellationToken cancellationToken)
    {
        var digest = B3Digest.FromByteString(node.Digest);
        writer.BeginFile(node.Executable, node.Size);
        try
        {
            await writeBlob(digest, node.Size, writer, cancellationToken).ConfigureAwait(false);
            writer.EndFile();
        }
        catch (InvalidOperationException e) when (writer.IsFileOpen)
        {
            throw new StoreValidationException(
                $"blob {digest} (file {NodeNames.Escape(node.Name.Span)}) does not have the {node.Size} bytes its node says: {e.Message}");
        }
    }
}
