using System.Runtime.CompilerServices;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>
/// PathInfos in a bucket, the protobuf bytes exactly as put under <c>pathinfos/&lt;nixbase32 hash&gt;</c>,
/// so every daemon on the bucket sees the others' paths. A put replaces the object whole; callers put
/// a PathInfo only after its root node's blobs and directories (import and copy do).
/// </summary>
public sealed class ObjectStorePathInfoService(ObjectStoreBucket bucket, NarCalculator narCalculator) : IPathInfoService
{
    private const int ParallelReads = 8;

    public async ValueTask<PathInfo?> GetAsync(StorePathHash hash, CancellationToken cancellationToken = default)
    {
        string key = ObjectKeys.PathInfo(bucket.Prefix, hash);
        byte[]? bytes = await bucket.GetAsync(key, cancellationToken).ConfigureAwait(false);
        return bytes is null ? null : Verified(bytes, hash, key);
    }

    public async ValueTask<PathInfo> PutAsync(PathInfo pathInfo, CancellationToken cancellationToken = default)
    {
        Model.StorePath storePath = PathInfoRules.Validate(pathInfo);
        // Store paths are immutable (PathInfoImmutability). RGW 16 has no conditional PUT, so two
        // daemons racing on one new path can both write; the same content then is harmless, and
        // different roots for one input-addressed path are what Nix itself never produces.
        if (await GetAsync(storePath.Hash, cancellationToken).ConfigureAwait(false) is { } stored)
            return PathInfoImmutability.Admit(stored, pathInfo, storePath);
        byte[] bytes = pathInfo.ToByteArray();
        await bucket.PutAsync(ObjectKeys.PathInfo(bucket.Prefix, storePath.Hash), bytes, cancellationToken).ConfigureAwait(false);
        return PathInfo.Parser.ParseFrom(bytes);
    }

    /// <summary>Lists the keys, reading a few PathInfos ahead of the one yielded.</summary>
    public async IAsyncEnumerable<PathInfo> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string prefix = ObjectKeys.PathInfos(bucket.Prefix);
        var reading = new Queue<Task<PathInfo?>>();
        byte[] hashBytes = new byte[StorePathHash.Length];
        await foreach (string key in bucket.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            string name = key[prefix.Length..];
            if (name.Length != Model.StorePath.HashChars || !NixBase32.TryDecode(name.AsSpan(), hashBytes))
                continue; // not ours: only nixbase32 names are written here
            reading.Enqueue(GetAsync(StorePathHash.FromBytes(hashBytes), cancellationToken).AsTask());
            if (reading.Count >= ParallelReads && await reading.Dequeue().ConfigureAwait(false) is { } pathInfo)
                yield return pathInfo;
        }
        while (reading.TryDequeue(out Task<PathInfo?>? read))
        {
            if (await read.ConfigureAwait(false) is { } pathInfo)
                yield return pathInfo;
        }
    }

    public ValueTask<NarHash> CalculateNarAsync(Node node, CancellationToken cancellationToken = default) =>
        narCalculator.CalculateAsync(node, cancellationToken);

    public ValueTask DisposeAsync()
    {
        bucket.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Re-validates a stored PathInfo: one that does not parse, or names another store path, is corrupt.</summary>
    private PathInfo Verified(byte[] bytes, StorePathHash expected, string key)
    {
        try
        {
            PathInfo pathInfo = PathInfo.Parser.ParseFrom(bytes);
            if (PathInfoRules.Validate(pathInfo).Hash != expected)
                throw new StoreValidationException("its store path hash differs from its key");
            return pathInfo;
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or StoreValidationException)
        {
            throw new StoreUnavailableException($"PathInfo {key} in store '{bucket.Name}' is corrupt: {e.Message}", e);
        }
    }
}
