using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Store.Services;

/// <summary>One PathInfo per store path, keyed by the 20-byte store path hash.</summary>
public interface IPathInfoService : IAsyncDisposable
{
    /// <summary>The PathInfo exactly as it was put, or null when absent.</summary>
    ValueTask<PathInfo?> GetAsync(StorePathHash hash, CancellationToken cancellationToken = default);

    /// <summary>Validates and durably stores the PathInfo; returns what was stored.</summary>
    ValueTask<PathInfo> PutAsync(PathInfo pathInfo, CancellationToken cancellationToken = default);

    /// <summary>Every PathInfo, streamed (never loaded all at once).</summary>
    IAsyncEnumerable<PathInfo> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>NAR size and SHA-256 of the node's contents (its own name is ignored).</summary>
    ValueTask<NarHash> CalculateNarAsync(Node node, CancellationToken cancellationToken = default);
}

/// <summary>The size and SHA-256 of a NAR.</summary>
public readonly record struct NarHash(ulong NarSize, byte[] NarSha256);
