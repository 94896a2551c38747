using TvixLowFs.Store.Model;

namespace TvixLowFs.NarBridge;

/// <summary>
/// The NARs uploaded and not yet named by a narinfo, in memory: keyed by the file hash (for
/// <c>HEAD /nar/…</c>) and by (NarHash, NarSize) (for the narinfo PUT), at most
/// <c>capacity</c> of them (the oldest forgotten first), each for <c>lifetime</c>. Nix sends a
/// path's narinfo right after its NAR, and re-sends the NAR when HEAD says 404, so a forgotten NAR
/// (or a restart in between) costs one upload again, never a wrong registration.
/// </summary>
public sealed class ReceivedNars(int capacity, TimeSpan lifetime, TimeProvider clock)
{
    private readonly object _lock = new();
    private readonly Dictionary<string, ReceivedNar> _byFileHash = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ReceivedNar> _byNar = new(StringComparer.Ordinal);
    private readonly Queue<ReceivedNar> _order = new();

    public int Count
    {
        get { lock (_lock) return _byFileHash.Count; }
    }

    public void Add(ReceivedNar nar)
    {
        ArgumentNullException.ThrowIfNull(nar);
        lock (_lock)
        {
            ForgetExpired();
            while (_order.Count > 0 && _byFileHash.Count >= capacity)
                Forget(_order.Dequeue());
            _byFileHash[FileKey(nar.FileSha256)] = nar;
            _byNar[NarKey(nar.NarSha256, nar.NarSize)] = nar;
            _order.Enqueue(nar);
        }
    }

    public ReceivedNar? ByFileHash(ReadOnlySpan<byte> fileSha256)
    {
        lock (_lock)
            return Fresh(_byFileHash.GetValueOrDefault(FileKey(fileSha256)));
    }

    public ReceivedNar? ByNar(ReadOnlySpan<byte> narSha256, ulong narSize)
    {
        lock (_lock)
            return Fresh(_byNar.GetValueOrDefault(NarKey(narSha256, narSize)));
    }

    private ReceivedNar? Fresh(ReceivedNar? nar) => nar is not null && clock.GetUtcNow() - nar.ReceivedAt <= lifetime ? nar : null;

    private void ForgetExpired()
    {
        while (_order.TryPeek(out ReceivedNar? oldest) && Fresh(oldest) is null)
            Forget(_order.Dequeue());
    }

    // Only the entry that is still the one under its keys: a newer upload of the same NAR replaced it.
    private void Forget(ReceivedNar nar)
    {
        string file = FileKey(nar.FileSha256), narKey = NarKey(nar.NarSha256, nar.NarSize);
        if (_byFileHash.TryGetValue(file, out ReceivedNar? current) && ReferenceEquals(current, nar))
            _byFileHash.Remove(file);
        if (_byNar.TryGetValue(narKey, out current) && ReferenceEquals(current, nar))
            _byNar.Remove(narKey);
    }

    private static string FileKey(ReadOnlySpan<byte> sha256) => NixBase32.Encode(sha256);

    private static string NarKey(ReadOnlySpan<byte> sha256, ulong size) => NixBase32.Encode(sha256) + ":" + size.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
