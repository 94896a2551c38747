using System.Runtime.CompilerServices;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store;

/// <summary>
/// What every stored DirectoryService shares: validation of single and graph puts, and the
/// breadth-first recursive get. An implementation only says how to read, size and store
/// canonical Directory bytes.
/// </summary>
public abstract class DirectoryServiceBase : IDirectoryService
{
    public abstract ValueTask<VerifiedDirectory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default);

    /// <summary>The <see cref="DirectoryRules.Size"/> of a stored directory, or null when it is absent.</summary>
    protected abstract ValueTask<ulong?> StoredSizeAsync(B3Digest digest, CancellationToken cancellationToken);

    /// <summary>
    /// Stores validated directories in the given order (leaves first: a directory's children
    /// always come earlier or are already stored). Storing one that exists is a no-op.
    /// </summary>
    protected abstract ValueTask StoreAsync(IReadOnlyList<VerifiedDirectory> directories, CancellationToken cancellationToken);

    /// <summary>
    /// How many directories <see cref="GetRecursiveAsync"/> reads ahead of the one it yields, in
    /// the same breadth-first order; more than 1 reads them on the thread pool at once (a store
    /// on disk then keeps several reads in flight instead of one after another).
    /// </summary>
    protected virtual int RecursiveReadahead => 1;

    public async IAsyncEnumerable<VerifiedDirectory> GetRecursiveAsync(B3Digest root, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var seen = new HashSet<B3Digest> { root };
        var pending = new Queue<B3Digest>();
        var reading = new Queue<(B3Digest Digest, Task<VerifiedDirectory?> Read)>();
        pending.Enqueue(root);
        while (true)
        {
            while (reading.Count < Math.Max(RecursiveReadahead, 1) && pending.TryDequeue(out B3Digest next))
                reading.Enqueue((next, StartGet(next, cancellationToken)));
            if (!reading.TryDequeue(out var head))
                yield break;
            VerifiedDirectory directory = await head.Read.ConfigureAwait(false)
                ?? throw new StoreNotFoundException(head.Digest == root
                    ? $"directory {head.Digest} not found"
                    : $"directory {head.Digest} (below {root}) not found");
            foreach (DirectoryNode child in directory.Message.Directories)
            {
                B3Digest childDigest = B3Digest.FromByteString(child.Digest);
                if (seen.Add(childDigest))
                    pending.Enqueue(childDigest);
            }
            yield return directory;
        }
    }

    private Task<VerifiedDirectory?> StartGet(B3Digest digest, CancellationToken cancellationToken) =>
        RecursiveReadahead > 1
            ? Task.Run(() => GetAsync(digest, cancellationToken).AsTask(), cancellationToken)
            : GetAsync(digest, cancellationToken).AsTask();

    public async ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default)
    {
        VerifiedDirectory validated = await ValidateAsync(directory, sent: null, cancellationToken).ConfigureAwait(false);
        await StoreAsync([validated], cancellationToken).ConfigureAwait(false);
        return validated.Digest;
    }

    public IDirectoryPutter BeginPut() => new GraphPutter(this);

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Checks one Directory: its own rules, then that every child directory was sent earlier in
    /// this graph or is stored, with the size its DirectoryNode claims.
    /// </summary>
    private async ValueTask<VerifiedDirectory> ValidateAsync(
        Directory directory, Dictionary<B3Digest, VerifiedDirectory>? sent, CancellationToken cancellationToken)
    {
        VerifiedDirectory verified = VerifiedDirectory.Create(directory);
        B3Digest digest = verified.Digest;
        foreach (DirectoryNode child in directory.Directories)
        {
            B3Digest childDigest = B3Digest.FromByteString(child.Digest);
            ulong? childSize = sent is not null && sent.TryGetValue(childDigest, out VerifiedDirectory? earlier)
                ? earlier.Size
                : await StoredSizeAsync(childDigest, cancellationToken).ConfigureAwait(false);
            if (childSize is null)
                throw new StoreValidationException(
                    $"directory {digest}: child directory {NodeNames.Escape(child.Name.Span)} refers to {childDigest}, which was not sent before it and is not stored");
            if (childSize.Value != child.Size)
                throw new StoreValidationException(
                    $"directory {digest}: child directory {NodeNames.Escape(child.Name.Span)} has size {child.Size}, but {childDigest} has size {childSize.Value}");
        }
        return verified;
    }

    /// <summary>
    /// Collects a graph leaves-first, validating each message as it arrives, and stores the whole
    /// graph only on close, after checking every message is reachable from the root (the last one).
    /// One caller at a time, like the gRPC stream it serves.
    /// </summary>
    private sealed class GraphPutter(DirectoryServiceBase service) : IDirectoryPutter
    {
        private readonly Dictionary<B3Digest, VerifiedDirectory> _sent = [];
        private readonly List<VerifiedDirectory> _order = [];
        private VerifiedDirectory? _last;
        private bool _closed;

        public async ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            VerifiedDirectory validated = await service.ValidateAsync(directory, _sent, cancellationToken).ConfigureAwait(false);
            // A directory sent twice (two identical subtrees) is kept once, at its first place.
            if (_sent.TryAdd(validated.Digest, validated))
                _order.Add(validated);
            _last = validated;
            return validated.Digest;
        }

        public async ValueTask<B3Digest> CloseAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            _closed = true;
            VerifiedDirectory root = _last ?? throw new StoreValidationException("directory put: no directories were sent");
            CheckConnected(root);
            await service.StoreAsync(_order, cancellationToken).ConfigureAwait(false);
            return root.Digest;
        }

        /// <summary>tvix rejects a graph with messages the root does not reach; so do we.</summary>
        private void CheckConnected(VerifiedDirectory root)
        {
            var reached = new HashSet<B3Digest> { root.Digest };
            var pending = new Stack<VerifiedDirectory>();
            pending.Push(root);
            while (pending.TryPop(out VerifiedDirectory? directory))
            {
                foreach (DirectoryNode child in directory.Message.Directories)
                {
                    B3Digest childDigest = B3Digest.FromByteString(child.Digest);
                    if (_sent.TryGetValue(childDigest, out VerifiedDirectory? sentChild) && reached.Add(childDigest))
                        pending.Push(sentChild);
                }
            }
            foreach (VerifiedDirectory directory in _order)
            {
                if (!reached.Contains(directory.Digest))
                    throw new StoreValidationException(
                        $"directory put: {directory.Digest} was sent but is not reachable from the root {root.Digest}");
            }
        }

        public ValueTask DisposeAsync()
        {
            _closed = true;
            return ValueTask.CompletedTask;
        }
    }
}
