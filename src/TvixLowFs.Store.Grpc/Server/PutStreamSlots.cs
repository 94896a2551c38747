namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// Counts the Put streams open at once, daemon-wide, so the temp files and descriptors they hold
/// are bounded however many connections and streams clients open.
/// </summary>
internal sealed class PutStreamSlots(int limit)
{
    private int _open;

    /// <summary>A slot, released when disposed; RESOURCE_EXHAUSTED naming the limit when none is free.</summary>
    public Slot Take()
    {
        if (Interlocked.Increment(ref _open) > limit)
        {
            Interlocked.Decrement(ref _open);
            throw RpcErrors.ResourceExhausted($"more than {limit} Put streams are open at once (max-concurrent-puts); try again later");
        }
        return new Slot(this);
    }

    internal readonly struct Slot(PutStreamSlots slots) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref slots._open);
    }
}
