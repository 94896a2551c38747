using NUnit.Framework;
using TvixLowFs.Store.Memory;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Test double of a broken or malicious daemon's store: answers a digest with other bytes
/// (a blob) or another Directory. Only a daemon behind it can make a client see corrupt data.
/// </summary>
public sealed class CorruptingBlobService(B3Digest asked, byte[] served) : IBlobService
{
    private readonly MemoryBlobService _inner = new();

    public async ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default) =>
        digest == asked ? served.Length : await _inner.StatAsync(digest, cancellationToken);

    public async ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        if (digest != asked)
            return await _inner.OpenReadAsync(digest, cancellationToken);
        await using var writer = _inner.OpenWrite();
        await writer.WriteAsync(served, cancellationToken);
        return await _inner.OpenReadAsync(await writer.CloseAsync(cancellationToken), cancellationToken);
    }

    public BlobWriter OpenWrite() => _inner.OpenWrite();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>
/// Test double: answers <paramref name="asked"/> with <paramref name="directory"/> (a valid Directory
/// with another digest: only the daemon's client, which hashes what it receives, can tell).
/// </summary>
public sealed class CorruptingDirectoryService(B3Digest asked, Directory directory) : IDirectoryService
{
    private readonly MemoryDirectoryService _inner = new();
    private readonly VerifiedDirectory _served = VerifiedDirectory.Create(directory);

    public async ValueTask<VerifiedDirectory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default) =>
        digest == asked ? _served : await _inner.GetAsync(digest, cancellationToken);

    public async IAsyncEnumerable<VerifiedDirectory> GetRecursiveAsync(B3Digest root, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (root == asked)
        {
            yield return _served;
            yield break;
        }
        await foreach (var d in _inner.GetRecursiveAsync(root, cancellationToken))
            yield return d;
    }

    public ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default) => _inner.PutAsync(directory, cancellationToken);

    public IDirectoryPutter BeginPut() => _inner.BeginPut();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
