using System.Collections.Concurrent;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Memory;

/// <summary><c>memory://</c> directories, validated on put like every store.</summary>
public sealed class MemoryDirectoryService : DirectoryServiceBase
{
    // Verified on put and immutable: served as they are, never hashed again.
    private readonly ConcurrentDictionary<B3Digest, VerifiedDirectory> _directories = new();

    public override ValueTask<VerifiedDirectory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_directories.GetValueOrDefault(digest));

    protected override ValueTask<ulong?> StoredSizeAsync(B3Digest digest, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_directories.TryGetValue(digest, out var stored) ? stored.Size : (ulong?)null);

    protected override ValueTask StoreAsync(IReadOnlyList<VerifiedDirectory> directories, CancellationToken cancellationToken)
    {
        foreach (VerifiedDirectory directory in directories)
            _directories.TryAdd(directory.Digest, directory);
        return ValueTask.CompletedTask;
    }
}
