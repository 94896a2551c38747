using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Import;

/// <summary>
/// The blob write batches of one import: its files in consecutive groups (at most
/// <see cref="GroupFiles"/> files or <see cref="GroupBytes"/>), each group a batch that a thread of
/// its own commits as soon as the group's last file is closed, while ingest reads the next groups.
/// So the syncs and renames of a group overlap the reading of the next, instead of one long sync
/// and one long rename pass after the last file. Each commit still makes its blobs durable before
/// it names them; an import that fails leaves named only the blobs of groups already committed:
/// complete, durable, and named by no directory.
/// </summary>
internal sealed class GroupedBlobCommits : IAsyncDisposable
{
    internal const int GroupFiles = 2048;
    internal const long GroupBytes = 64L << 20;

    private readonly IBlobWriteBatch[] _batches;
    private readonly int[] _groupOf;
    private readonly int[] _open;
    private readonly BlockingCollection<int> _ready = new();
    private readonly CancellationTokenSource _failed = new();
    private readonly Task _committing;
    private Exception? _failure;

    public GroupedBlobCommits(IBlobService blobs, IReadOnlyList<PlannedFile> files)
    {
        _groupOf = new int[files.Count];
        var sizes = new List<int>();
        int count = 0;
        long bytes = 0;
        for (int i = 0; i < files.Count; i++)
        {
            if (count == GroupFiles || (count > 0 && bytes + files[i].Size > GroupBytes))
            {
                sizes.Add(count);
                count = 0;
                bytes = 0;
            }
            _groupOf[i] = sizes.Count;
            count++;
            bytes += files[i].Size;
        }
        if (count > 0)
            sizes.Add(count);
        _open = [.. sizes];
        _batches = new IBlobWriteBatch[sizes.Count];
        for (int i = 0; i < _batches.Length; i++)
            _batches[i] = BlobWriteBatch.Begin(blobs);
        // A thread of its own: a commit blocks in syncfs, which a pool thread should not.
        _committing = Task.Factory.StartNew(CommitReadyGroups, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Cancelled when a commit failed: ingest should stop.</summary>
    public CancellationToken Failed => _failed.Token;

    public IBlobWriteBatch BatchOf(PlannedFile file) => _batches[_groupOf[file.Index]];

    /// <summary>Says a file's blob writer was closed; the group's last sends it to be committed.</summary>
    public void Closed(PlannedFile file)
    {
        int group = _groupOf[file.Index];
        if (Interlocked.Decrement(ref _open[group]) != 0)
            return;
        try
        {
            _ready.Add(group);
        }
        catch (InvalidOperationException)
        {
            // No more commits are taken (the import is being torn down): the group's temp files are deleted.
        }
    }

    /// <summary>Rethrows the failure of a commit, if one failed.</summary>
    public void ThrowIfCommitFailed()
    {
        if (Volatile.Read(ref _failure) is { } failure)
            ExceptionDispatchInfo.Throw(failure);
    }

    /// <summary>Waits until every group is committed; every file must have been closed.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        _ready.CompleteAdding();
        await _committing.WaitAsync(cancellationToken).ConfigureAwait(false);
        ThrowIfCommitFailed();
    }

    private void CommitReadyGroups()
    {
        foreach (int group in _ready.GetConsumingEnumerable())
        {
            if (_failure is not null)
                continue;
            try
            {
                // The local batch commits synchronously; a service's durable-on-close batch has nothing to do.
                _batches[group].CommitAsync().AsTask().GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                Volatile.Write(ref _failure, e);
                _failed.Cancel();
            }
        }
    }

    /// <summary>Stops committing and deletes the temp files of every group not committed.</summary>
    public async ValueTask DisposeAsync()
    {
        _ready.CompleteAdding();
        await _committing.ConfigureAwait(false);
        foreach (IBlobWriteBatch batch in _batches)
            await batch.DisposeAsync().ConfigureAwait(false);
        _ready.Dispose();
        _failed.Dispose();
    }
}
