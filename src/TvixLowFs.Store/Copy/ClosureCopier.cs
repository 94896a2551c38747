using System.Collections.Concurrent;
using TvixLowFs.Protos.Store;
using StorePath = TvixLowFs.Store.Model.StorePath;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Copy;

/// <summary>How far a copy has got.</summary>
public readonly record struct CopyProgress(int PathsDone, int PathsKnown, long BytesReceived, ulong NarBytesDone);

/// <summary>What a copy did: the paths it registered, those already present, and every failure with its reason.</summary>
public sealed record CopyOutcome(IReadOnlyList<StorePath> Registered, int AlreadyPresent, IReadOnlyList<(string Path, string Reason)> Failures);

/// <summary>
/// <c>tvixlowfs copy</c>: substitutes store paths and their whole closures (references, recursively)
/// from a source into the destination's services. A path is copied only after every path it refers
/// to is registered (as Nix does), so the destination never holds a PathInfo whose closure is
/// incomplete; up to <c>jobs</c> paths are copied at once, and lookups run ahead of the copies.
/// A path already in the destination is not copied again (its closure is still walked).
/// </summary>
public sealed class ClosureCopier(ISubstitutionSource source, IPathInfoService destination, int jobs)
{
    private readonly SemaphoreSlim _copySlots = new(Math.Max(1, jobs));
    private readonly SemaphoreSlim _lookupSlots = new(Math.Max(1, jobs) * 2);
    private readonly ConcurrentDictionary<StorePathHash, Lazy<Task<StorePath>>> _paths = new();
    private readonly ConcurrentQueue<StorePath> _registered = new();
    private readonly ConcurrentDictionary<string, string> _failures = new(StringComparer.Ordinal);
    private int _done, _alreadyPresent;
    private long _narBytesDone;

    public CopyProgress Progress => new(Volatile.Read(ref _done), _paths.Count, source.BytesReceived, (ulong)Interlocked.Read(ref _narBytesDone));

    /// <summary>Copies the closures of <paramref name="roots"/>; <paramref name="registered"/> is told of each path as it is registered.</summary>
    public async Task<CopyOutcome> CopyAsync(IEnumerable<StorePath> roots, Action<StorePath>? registered, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(roots);
        Task[] all = roots.Select(root => EnsureAsync(root.Hash, root.AbsolutePath, registered, cancellationToken)).ToArray<Task>();
        try
        {
            await Task.WhenAll(all).ConfigureAwait(false);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // Every failure is in _failures, with its path and reason.
        }
        cancellationToken.ThrowIfCancellationRequested();
        return new CopyOutcome(_registered.ToArray(), _alreadyPresent,
            _failures.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => (f.Key, f.Value)).ToArray());
    }

    private Task<StorePath> EnsureAsync(StorePathHash hash, string displayName, Action<StorePath>? registered, CancellationToken cancellationToken) =>
        _paths.GetOrAdd(hash, _ => new Lazy<Task<StorePath>>(() => Task.Run(() => CopyOneAsync(hash, displayName, registered, cancellationToken)))).Value;

    private async Task<StorePath> CopyOneAsync(StorePathHash hash, string displayName, Action<StorePath>? registered, CancellationToken cancellationToken)
    {
        string name = displayName;
        try
        {
            PathInfo? present = await destination.GetAsync(hash, cancellationToken).ConfigureAwait(false);
            SubstitutionCandidate? candidate = null;
            IReadOnlyList<StorePathHash> references;
            StorePath storePath;
            if (present is not null)
            {
                storePath = PathInfoRules.Validate(present);
                references = present.References.Select(r => StorePathHash.FromBytes(r.Span)).ToArray();
            }
            else
            {
                await _lookupSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    candidate = await source.LookUpAsync(hash, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    _lookupSlots.Release();
                }
                if (candidate is null)
                    throw new StoreNotFoundException("not in the source");
                storePath = candidate.StorePath;
                references = candidate.References;
            }
            name = storePath.AbsolutePath;

            var dependencies = references.Where(r => r != hash).Distinct()
                .Select(r => EnsureAsync(r, NixBase32.Encode(r.ToArray()), registered, cancellationToken)).ToArray();
            try
            {
                await Task.WhenAll(dependencies).ConfigureAwait(false);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                int failed = dependencies.Count(d => !d.IsCompletedSuccessfully);
                throw new StoreUnavailableException($"{failed} of the paths it refers to could not be copied (listed too)");
            }

            if (candidate is null)
            {
                Interlocked.Increment(ref _alreadyPresent);
            }
            else
            {
                await _copySlots.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    await source.CopyAsync(candidate, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    _copySlots.Release();
                }
                Interlocked.Add(ref _narBytesDone, (long)candidate.NarSize);
                _registered.Enqueue(storePath);
                registered?.Invoke(storePath);
            }
            Interlocked.Increment(ref _done);
            return storePath;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            _failures.TryAdd(name, e.Message.ReplaceLineEndings(" "));
            throw;
        }
    }
}
