using TvixLowFs.Fuse;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Filesystem;

// lookup: at the root by store path, below it by name in a fetched Directory.
public sealed partial class StoreFilesystem
{
    public void Lookup(FuseRequest request, ulong parent, ReadOnlySpan<byte> name)
    {
        if (parent == RootInode)
        {
            LookupStorePath(request, name);
            return;
        }
        if (_inodes.Get(parent) is not { } directory)
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        if (directory.Kind != InodeKind.Directory)
        {
            _reply.Err(request, Errno.ENOTDIR);
            return;
        }
        if (directory.Contents is { } contents)
        {
            ReplyChild(request, contents, name);
            return;
        }
        // The kernel's name buffer dies with this call: keep a copy for the continuation.
        Track(LookupChildAfterFetchAsync(request, directory, name.ToArray()));
    }

    private void ReplyChild(FuseRequest request, DirectoryContents contents, ReadOnlySpan<byte> name)
    {
        int index = contents.Find(name);
        if (index < 0)
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        InodeRecord child = contents.Record(index);
        InodeRecord referenced = ReplyEntry(request, child);
        if (!ReferenceEquals(referenced, child))
            contents.ReplaceRecord(index, referenced);
    }

    private async Task LookupChildAfterFetchAsync(FuseRequest request, InodeRecord directory, byte[] name)
    {
        DirectoryContents contents;
        try
        {
            contents = await ContentsAsync(directory).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Logged once by the fetch.
            _reply.Err(request, Errno.EIO);
            return;
        }
        ReplyChild(request, contents, name);
    }

    private void LookupStorePath(FuseRequest request, ReadOnlySpan<byte> name)
    {
        if (!TvixLowFs.Store.Model.StorePath.TryParseBasename(name, out StorePathHash hash))
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        if (_rootEntries.TryGetValue(hash, out RootEntry? entry))
        {
            ReplyStorePath(request, entry, name);
            return;
        }
        Track(LookupStorePathAfterFetchAsync(request, hash, name.ToArray()));
    }

    /// <summary>The PathInfo is keyed by the hash only: the name must match exactly too.</summary>
    private void ReplyStorePath(FuseRequest request, RootEntry? entry, ReadOnlySpan<byte> name)
    {
        if (entry is null || !entry.Name.SequenceEqual(name))
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        ReplyEntry(request, entry.Record);
    }

    private async Task LookupStorePathAfterFetchAsync(FuseRequest request, StorePathHash hash, byte[] name)
    {
        RootEntry? entry;
        try
        {
            entry = await FetchStorePathAsync(hash).ConfigureAwait(false);
        }
        catch (Exception)
        {
            _reply.Err(request, Errno.EIO);
            return;
        }
        ReplyStorePath(request, entry, name);
    }

    /// <summary>The store path's root entry, or null when there is no PathInfo; concurrent misses share one fetch.</summary>
    private Task<RootEntry?> FetchStorePathAsync(StorePathHash hash) =>
        SharedFetch.Start(_pathInfoFetches, hash, completion => FetchPathInfoAsync(hash, completion), runHere: false);

    private async Task FetchPathInfoAsync(StorePathHash hash, TaskCompletionSource<RootEntry?> completion)
    {
        try
        {
            RootEntry? entry = null;
            TimeSpan timeout = _options.PathInfoTimeout ?? _options.BackendTimeout;
            using (var deadline = new CancellationTokenSource(timeout))
            {
                PathInfo? pathInfo = await _store.PathInfos.GetAsync(hash, deadline.Token).AsTask().WaitAsync(timeout, _abandoned.Token).ConfigureAwait(false);
                if (pathInfo is not null)
                {
                    entry = RegisterStorePath(VerifiedPathInfo.Create(pathInfo), hash);
                    _prefetch.Start(entry.Record);
                }
            }
            completion.SetResult(entry);
        }
        catch (Exception e)
        {
            // Answered before it is logged: the waiters do not depend on the log line.
            completion.TrySetException(e);
            LogPathInfoFailed(hash.ToHex(), e.Message);
        }
        finally
        {
            _pathInfoFetches.TryRemove(new KeyValuePair<StorePathHash, Task<RootEntry?>>(hash, completion.Task));
        }
    }

    /// <summary>Remembers a validated PathInfo's store path (first one wins).</summary>
    private RootEntry RegisterStorePath(VerifiedPathInfo pathInfo, StorePathHash hash)
    {
        var entry = new RootEntry(DirectoryContents.WithNul(pathInfo.RootName.Span), RecordFor(pathInfo.Root));
        RootEntry registered = _rootEntries.GetOrAdd(hash, entry);
        // Remembered only while its record is in the table: retiring the record drops the entry
        // (its PathInfo is fetched again at the next lookup), so the cache stays bounded.
        if (ReferenceEquals(registered, entry) && !entry.Record.TryAddStorePath(new(hash, entry)))
            _rootEntries.TryRemove(new KeyValuePair<StorePathHash, RootEntry>(hash, entry));
        return registered;
    }

    /// <summary>A directory's entries; fetched once, on first use, shared by concurrent misses.</summary>
    private Task<DirectoryContents> EnsureContentsAsync(InodeRecord directory)
    {
        if (directory.Contents is { } contents)
            return Task.FromResult(contents);
        return directory.FetchContents(completion => FetchContentsAsync(directory, completion), _options.AnswerMissesInline);
    }

    private async Task FetchContentsAsync(InodeRecord directory, TaskCompletionSource<DirectoryContents> completion)
    {
        B3Digest digest = directory.Digest;
        try
        {
            VerifiedDirectory? message;
            using (CancellationTokenSource deadline = BackendDeadline())
                message = await _store.Directories.GetAsync(digest, deadline.Token).AsTask().WaitAsync(_options.BackendTimeout, _abandoned.Token).ConfigureAwait(false);
            if (message is null)
                throw new StoreNotFoundException($"directory {digest} not found");
            // Verified by the service against this digest; only the node's size is ours to check.
            if (message.Size != (ulong)directory.Size)
                throw new StoreValidationException($"directory {digest} has {message.Size} entries, its node claims {directory.Size}");
            DirectoryContents contents = DirectoryContents.Build(message, _inodes);
            PublishContents(directory, contents);
            completion.SetResult(contents);
        }
        catch (Exception e)
        {
            // Not remembered: a later request tries again. Answered before it is logged.
            directory.EndContentsFetch(completion.Task);
            completion.TrySetException(e);
            LogDirectoryFailed(digest.ToString(), e.Message);
        }
    }

    /// <summary>Publishes a directory's entries, unless the record was retired meanwhile (then they would only be garbage).</summary>
    private void PublishContents(InodeRecord directory, DirectoryContents contents)
    {
        TreeReadahead.NoteParents(directory, contents);
        directory.PublishContents(contents);
        if (directory.IsRetired)
            directory.TakeContents();
    }

    /// <summary>
    /// A directory's entries for a request that waits on them: a prefetch that stopped before
    /// reaching the directory gives it back, and the request fetches it itself.
    /// </summary>
    private async Task<DirectoryContents> ContentsAsync(InodeRecord directory)
    {
        while (true)
        {
            DirectoryContents contents = await EnsureContentsAsync(directory).ConfigureAwait(false);
            if (!ReferenceEquals(contents, DirectoryContents.NotPrefetched))
                return contents;
        }
    }
}
