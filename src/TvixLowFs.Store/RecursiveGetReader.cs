using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store;

/// <summary>
/// Checks a recursive get's stream as it arrives, the one way every reader of one does: the root
/// first; after it only directories a directory received earlier names, each once, with the size
/// every node naming it carries; at the end nothing named is missing. A message off the wire is
/// verified here (hashed once); a <see cref="VerifiedDirectory"/> from a service is only checked
/// for its place in the stream.
/// </summary>
public sealed class RecursiveGetReader(B3Digest root, string source = "")
{
    // Named by a directory received and not received yet, with the size its node carries.
    private readonly Dictionary<B3Digest, ulong> _named = [];
    // Received, with its recursive size (a node naming it later must agree).
    private readonly Dictionary<B3Digest, ulong> _received = [];

    public B3Digest Root { get; } = root;

    /// <summary>How many directories were accepted.</summary>
    public int Count => _received.Count;

    /// <summary>A message received for this get: verified (against the root's digest, for the first) and placed.</summary>
    public VerifiedDirectory Accept(Directory message)
    {
        VerifiedDirectory directory;
        try
        {
            directory = _received.Count == 0 ? VerifiedDirectory.Verify(message, Root) : VerifiedDirectory.Create(message);
        }
        catch (StoreValidationException e)
        {
            throw new StoreValidationException($"{source}{e.Message} (get {Root} recursively)");
        }
        Accept(directory);
        return directory;
    }

    /// <summary>A directory already verified: checked for its place in the stream.</summary>
    public void Accept(VerifiedDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        B3Digest digest = directory.Digest;
        if (_received.Count == 0)
        {
            if (digest != Root)
                throw new StoreValidationException($"{source}asked directory {Root} recursively, the first received is {digest}");
        }
        else
        {
            if (!_named.Remove(digest, out ulong announced))
                throw new StoreValidationException($"{source}directory {digest} under {Root} was not named by a directory received before it");
            if (announced != directory.Size)
                throw new StoreValidationException($"{source}directory {digest} under {Root} has size {directory.Size}, its parent says {announced}");
        }
        _received.Add(digest, directory.Size);
        foreach (DirectoryNode child in directory.Message.Directories)
        {
            B3Digest childDigest = B3Digest.FromByteString(child.Digest);
            ulong known = _received.TryGetValue(childDigest, out ulong size) ? size
                : _named.TryGetValue(childDigest, out ulong other) ? other
                : child.Size;
            if (known != child.Size)
                throw new StoreValidationException(
                    $"{source}directory {digest} under {Root} names {childDigest} with size {child.Size}, another node names it with {known}");
            if (!_received.ContainsKey(childDigest))
                _named.TryAdd(childDigest, child.Size);
        }
    }

    /// <summary>The stream ended: the root arrived and so did everything named.</summary>
    public void Complete()
    {
        if (_received.Count == 0)
            throw new StoreNotFoundException($"{source}directory {Root} not found");
        if (_named.Count > 0)
            throw new StoreNotFoundException($"{source}directory {_named.Keys.First()} under {Root} was not sent");
    }
}
