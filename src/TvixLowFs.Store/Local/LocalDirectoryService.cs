using System.Collections.Concurrent;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Local;

/// <summary>
/// Directories of a <see cref="LocalStore"/>: the canonical protobuf bytes of each Directory in
/// <c>directories/&lt;hex[0..2]&gt;/&lt;hex&gt;</c>, verified against their name on every read.
/// </summary>
public sealed class LocalDirectoryService(LocalStore store) : DirectoryServiceBase
{
    // Sizes of directories known to be stored: put validation asks for them once per child.
    private readonly ConcurrentDictionary<B3Digest, ulong> _sizes = new();

    public LocalStore Store { get; } = store;

    /// <summary>Each directory is a small file: a recursive get keeps several reads in flight (a cold tree is mostly seek time).</summary>
    protected override int RecursiveReadahead => 8;

    public override ValueTask<VerifiedDirectory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        string path = Store.DirectoryPath(digest);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return ValueTask.FromResult<VerifiedDirectory?>(null);
        }
        try
        {
            // The file holds the canonical bytes: hashed as they are, once.
            return ValueTask.FromResult<VerifiedDirectory?>(VerifiedDirectory.FromCanonical(bytes, digest));
        }
        catch (StoreValidationException e)
        {
            throw new StoreUnavailableException($"directory {digest} in local store '{Store.Root}' is corrupt: {e.Message}");
        }
    }

    protected override async ValueTask<ulong?> StoredSizeAsync(B3Digest digest, CancellationToken cancellationToken)
    {
        if (_sizes.TryGetValue(digest, out ulong known))
            return known;
        VerifiedDirectory? directory = await GetAsync(digest, cancellationToken).ConfigureAwait(false);
        if (directory is null)
            return null;
        ulong size = directory.Size;
        _sizes.TryAdd(digest, size);
        return size;
    }

    protected override ValueTask StoreAsync(IReadOnlyList<VerifiedDirectory> directories, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // Renamed leaves first: a directory visible under its name has its children visible too.
        try
        {
            Store.WriteAllAtomically(directories.Select(d => (Store.DirectoryPath(d.Digest), d.Canonical)).ToList());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Store.Failure($"storing {directories.Count} directories", e);
        }
        foreach (VerifiedDirectory directory in directories)
            _sizes.TryAdd(directory.Digest, directory.Size);
        return ValueTask.CompletedTask;
    }
}
