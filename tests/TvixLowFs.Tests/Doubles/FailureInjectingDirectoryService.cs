using System.Runtime.CompilerServices;
using Google.Protobuf;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// Test double around a real directory service: a Directory holding a file named
/// <see cref="ThrowMarker"/> makes the get throw (a failing backend); one holding
/// <see cref="CorruptMarker"/> comes back altered (corrupt data, wrong digest) and is refused as a
/// verifying service refuses what it received (<see cref="VerifiedDirectory.Verify"/> throws).
/// Everything else passes through.
/// </summary>
internal sealed class FailureInjectingDirectoryService(IDirectoryService inner) : IDirectoryService
{
    public const string ThrowMarker = "backend-throws";
    public const string CorruptMarker = "backend-corrupts";

    public int Gets;

    public async ValueTask<VerifiedDirectory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Gets);
        VerifiedDirectory? directory = await inner.GetAsync(digest, cancellationToken);
        if (directory is null)
            return null;
        if (directory.Message.Files.Any(f => f.Name.ToStringUtf8() == ThrowMarker))
            throw new StoreUnavailableException($"injected failure for directory {digest}");
        if (directory.Message.Files.Any(f => f.Name.ToStringUtf8() == CorruptMarker))
            return Altered(directory);
        return directory;
    }

    private static VerifiedDirectory Altered(VerifiedDirectory directory)
    {
        Directory altered = directory.Message.Clone();
        altered.Files[0].Size += 1;
        return VerifiedDirectory.Verify(altered, directory.Digest);
    }

    /// <summary>The same failures in the stream (a prefetch meets them as the explicit get does).</summary>
    public async IAsyncEnumerable<VerifiedDirectory> GetRecursiveAsync(B3Digest root, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (VerifiedDirectory directory in inner.GetRecursiveAsync(root, cancellationToken))
        {
            if (directory.Message.Files.Any(f => f.Name.ToStringUtf8() == ThrowMarker))
                throw new StoreUnavailableException("injected failure in a recursive get");
            if (directory.Message.Files.Any(f => f.Name.ToStringUtf8() == CorruptMarker))
            {
                yield return Altered(directory);
                continue;
            }
            yield return directory;
        }
    }

    public ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default) =>
        inner.PutAsync(directory, cancellationToken);

    public IDirectoryPutter BeginPut() => inner.BeginPut();

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
