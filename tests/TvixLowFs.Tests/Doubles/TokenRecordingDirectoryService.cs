using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Test double: a real directory service that remembers the cancellation token of the last
/// recursive get, so a test can see whether the caller's work is tied to the call that asked for it.
/// </summary>
internal sealed class TokenRecordingDirectoryService(IDirectoryService inner) : IDirectoryService
{
    private readonly Lock _lock = new();
    private CancellationToken? _lastRecursive;

    /// <summary>The token of the last GetRecursive, or null before the first.</summary>
    public CancellationToken? LastRecursiveToken
    {
        get
        {
            lock (_lock)
                return _lastRecursive;
        }
    }

    public ValueTask<VerifiedDirectory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default) => inner.GetAsync(digest, cancellationToken);

    public IAsyncEnumerable<VerifiedDirectory> GetRecursiveAsync(B3Digest root, CancellationToken cancellationToken = default)
    {
        lock (_lock)
            _lastRecursive = cancellationToken;
        return inner.GetRecursiveAsync(root, cancellationToken);
    }

    public ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default) => inner.PutAsync(directory, cancellationToken);

    public IDirectoryPutter BeginPut() => inner.BeginPut();

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
