using System.Collections.Concurrent;

namespace TvixLowFs.Filesystem;

/// <summary>
/// Single flight: the first miss of a piece of content puts one completion into its slot and runs
/// the fetch; every concurrent miss gets that same task. The fetch completes the task on every
/// path and clears the slot (or keeps it, when it stays valid). Used for a directory's entries, a
/// file's blob, a store path's PathInfo and the closure prefetch's reservations.
/// </summary>
internal static class SharedFetch
{
    /// <summary>
    /// Takes an empty slot: <paramref name="completion"/>'s task is now the slot's. False (and
    /// <paramref name="inFlight"/> set) when another fetch holds it.
    /// </summary>
    public static bool TryTake<T>(ref Task<T>? slot, out TaskCompletionSource<T> completion, out Task<T>? inFlight)
    {
        completion = null!;
        if ((inFlight = Volatile.Read(ref slot)) is not null)
            return false;
        var fresh = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if ((inFlight = Interlocked.CompareExchange(ref slot, fresh.Task, null)) is not null)
            return false;
        completion = fresh;
        return true;
    }

    /// <summary>
    /// The slot's task, starting <paramref name="fetch"/> when the slot is empty: on the thread
    /// pool (no FUSE thread waits on a remote store), or at once on this thread when
    /// <paramref name="runHere"/> (a store on this machine, or content the cache already holds).
    /// </summary>
    public static Task<T> Start<T>(ref Task<T>? slot, Func<TaskCompletionSource<T>, Task> fetch, bool runHere)
    {
        if (!TryTake(ref slot, out TaskCompletionSource<T> completion, out Task<T>? inFlight))
            return inFlight!;
        Run(completion, fetch, runHere);
        return completion.Task;
    }

    /// <summary>The same for content kept in a map by key (the slot is the key's entry; the fetch removes it).</summary>
    public static Task<T> Start<TKey, T>(ConcurrentDictionary<TKey, Task<T>> slots, TKey key, Func<TaskCompletionSource<T>, Task> fetch, bool runHere)
        where TKey : notnull
    {
        if (slots.TryGetValue(key, out Task<T>? inFlight))
            return inFlight;
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        inFlight = slots.GetOrAdd(key, completion.Task);
        if (inFlight != completion.Task)
            return inFlight;
        Run(completion, fetch, runHere);
        return completion.Task;
    }

    private static void Run<T>(TaskCompletionSource<T> completion, Func<TaskCompletionSource<T>, Task> fetch, bool runHere)
    {
        if (runHere)
            _ = fetch(completion); // completes before returning for a store on this machine
        else
            _ = Task.Run(() => fetch(completion));
    }
}
