using System.Runtime.CompilerServices;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Local;

/// <summary>
/// PathInfos of a <see cref="LocalStore"/>: the protobuf bytes exactly as put, in
/// <c>pathinfos/&lt;nixbase32 hash&gt;</c>. The first put of a store path stays: a later one with the
/// same root node answers it, one with another root node is refused (<see cref="PathInfoImmutability"/>).
/// </summary>
public sealed class LocalPathInfoService(LocalStore store, NarCalculator narCalculator) : IPathInfoService
{
    // Across processes the rename that registers a path refuses to replace one (RENAME_NOREPLACE),
    // so of two racing puts exactly one wins and the other is judged against it. The lock only
    // keeps one process's threads from repairing a damaged file twice.
    private readonly Lock _putLock = new();

    public LocalStore Store { get; } = store;

    public ValueTask<PathInfo?> GetAsync(StorePathHash hash, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(Store.PathInfoPath(hash), hash));

    public ValueTask<PathInfo> PutAsync(PathInfo pathInfo, CancellationToken cancellationToken = default)
    {
        Model.StorePath storePath = PathInfoRules.Validate(pathInfo);
        byte[] bytes = pathInfo.ToByteArray();
        string path = Store.PathInfoPath(storePath.Hash);
        lock (_putLock)
        {
            try
            {
                PathInfo? stored;
                bool corrupt = false;
                try
                {
                    stored = Read(path, storePath.Hash);
                }
                catch (StoreUnavailableException e) when (e.InnerException is InvalidProtocolBufferException or StoreValidationException)
                {
                    // A damaged file registers nothing: a put repairs it.
                    stored = null;
                    corrupt = true;
                }
                if (stored is not null)
                    return ValueTask.FromResult(PathInfoImmutability.Admit(stored, pathInfo, storePath));
                if (!Store.WriteAtomically(path, bytes, overwrite: corrupt))
                {
                    // Another process (or store instance) registered it between the read and the rename.
                    PathInfo raced = Read(path, storePath.Hash) ?? throw new StoreUnavailableException($"the PathInfo of {storePath.Basename} vanished while it was put");
                    return ValueTask.FromResult(PathInfoImmutability.Admit(raced, pathInfo, storePath));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Store.Failure($"storing the PathInfo of {storePath.Basename}", e);
            }
        }
        return ValueTask.FromResult(PathInfo.Parser.ParseFrom(bytes));
    }

    public async IAsyncEnumerable<PathInfo> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        byte[] hashBytes = new byte[StorePathHash.Length];
        foreach (string path in System.IO.Directory.EnumerateFiles(Store.PathInfosDirectory))
        {
            cancellationToken.ThrowIfCancellationRequested();
            string name = Path.GetFileName(path);
            if (name.Length != Model.StorePath.HashChars || !NixBase32.TryDecode(System.Text.Encoding.ASCII.GetBytes(name), hashBytes))
                continue; // not ours: the format only puts nixbase32 names here
            PathInfo? pathInfo = Read(path, StorePathHash.FromBytes(hashBytes));
            if (pathInfo is not null)
                yield return pathInfo;
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    public ValueTask<NarHash> CalculateNarAsync(Node node, CancellationToken cancellationToken = default) =>
        narCalculator.CalculateAsync(node, cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Reads and re-validates a stored PathInfo; a file that does not match its name is corruption.</summary>
    private PathInfo? Read(string path, StorePathHash expected)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        try
        {
            PathInfo pathInfo = PathInfo.Parser.ParseFrom(bytes);
            // A valid PathInfo of another store path is not the one asked for: absent, as on every
            // backend (README: "a PathInfo must name exactly the store path looked up"); `verify`
            // reports the misplaced file.
            return PathInfoRules.Validate(pathInfo).Hash == expected ? pathInfo : null;
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or StoreValidationException)
        {
            throw new StoreUnavailableException($"PathInfo '{path}' in local store '{Store.Root}' is corrupt: {e.Message}", e);
        }
    }
}
