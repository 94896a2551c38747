using System.Collections.Concurrent;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Memory;

/// <summary><c>memory://</c> directories, validated on put like every store.</summary>
public sealed class MemoryDirectoryService : DirectoryServiceBase
{
    // Canonical bytes, parsed on every get: callers receive their own mutable message.
    private readonly ConcurrentDictionary<B3Digest, (ReadOnlyMemory<byte> Canonical, ulong Size)> _directories = new();

    public override ValueTask<Directory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_directories.TryGetValue(digest, out var stored) ? Directory.Parser.ParseFrom(stored.Canonical.Span) : null);

    protected override ValueTask<ulong?> StoredSizeAsync(B3Digest digest, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_directories.TryGetValue(digest, out var stored) ? stored.Size : (ulong?)null);

    protected override ValueTask StoreAsync(IReadOnlyList<VerifiedDirectory> directories, CancellationToken cancellationToken)
    {
        foreach (VerifiedDirectory directory in directories)
            _directories.TryAdd(directory.Digest, (directory.Canonical, directory.Size));
        return ValueTask.CompletedTask;
    }
}
