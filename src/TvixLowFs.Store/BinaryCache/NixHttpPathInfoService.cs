using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Model.BinaryCache;
using TvixLowFs.Store.Nar;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// PathInfos substituted from a Nix binary cache (<c>nix+http(s)://</c>). A lookup fetches
/// <c>&lt;hash&gt;.narinfo</c>, checks it (Nix 2.8's parser, the requested hash, the signatures), downloads
/// and decompresses the NAR it names and ingests it into the blob and directory services while it
/// streams in; only when the NAR's size and SHA-256 agree with the narinfo is the PathInfo put into
/// <c>kept</c>, the local PathInfo service every later lookup (of this process or the next) is
/// answered from without a request.
/// <para>
/// A fetch runs on its own, not under the token of the lookup that started it: a lookup that gives
/// up (the mount's deadline) does not waste the download, concurrent lookups of one path share it,
/// and disposing the service cancels it. Absence (404/403/410, a narinfo that is malformed or
/// untrusted) is remembered for <see cref="StoreAddress.NegativeTtl"/> only, so paths pushed to the
/// cache later appear.
/// </para>
/// </summary>
public sealed partial class NixHttpPathInfoService : ISubstitutingPathInfoService
{
    private readonly StoreAddress _address;
    private readonly BinaryCacheHttpClient _http;
    private readonly IBlobService _blobs;
    private readonly IDirectoryService _directories;
    private readonly IPathInfoService _kept;
    private readonly NarCalculator _narCalculator;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    /// <summary>How far the download runs ahead of decompression, and decompression ahead of ingestion.</summary>
    private const int ReadAheadBytes = 4 << 20;

    private readonly ConcurrentDictionary<StorePathHash, Task<PathInfo?>> _fetches = new();
    private readonly ConcurrentDictionary<StorePathHash, long> _absentUntil = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly bool _ownsKept;
    private readonly string? _cacheInfoFile;
    private Task? _cacheInfoCheck;
    private long _narBytesIngested;

    /// <param name="kept">Where substituted PathInfos are put and first looked for; disposed with this
    /// service when <paramref name="ownsKept"/>.</param>
    /// <param name="cacheInfoFile">Where the cache's checked nix-cache-info is remembered across processes; null: not remembered.</param>
    public NixHttpPathInfoService(StoreAddress address, IBlobService blobs, IDirectoryService directories, IPathInfoService kept,
        bool ownsKept = true, BinaryCacheHttpOptions? httpOptions = null, ILogger? logger = null, TimeProvider? time = null,
        string? cacheInfoFile = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.Kind != StoreAddressKind.NixHttp || address.BinaryCache is null)
            throw new ArgumentException($"'{address}' is not a nix+http(s) address", nameof(address));
        _address = address;
        _logger = logger ?? NullLogger.Instance;
        _http = new BinaryCacheHttpClient(address.BinaryCache, httpOptions ?? new BinaryCacheHttpOptions(), _logger);
        _blobs = blobs;
        _directories = directories;
        _kept = kept;
        _ownsKept = ownsKept;
        _cacheInfoFile = cacheInfoFile;
        _narCalculator = new NarCalculator(blobs, directories);
        _time = time ?? TimeProvider.System;
    }

    public StoreAddress Address => _address;

    /// <summary>Bytes received from the cache (narinfos and compressed NARs), for progress lines.</summary>
    public long BytesDownloaded => _http.BytesReceived;

    /// <summary>Bytes of NAR ingested (uncompressed), for progress lines.</summary>
    public long NarBytesIngested => Interlocked.Read(ref _narBytesIngested);

    /// <summary>HTTP requests made so far.</summary>
    public long RequestCount => _http.RequestCount;

    /// <summary>
    /// The cache's <c>nix-cache-info</c>, checked once: a cache for another store directory is an
    /// error (as in Nix); a missing file is accepted (Nix tolerates it too); an unreachable cache
    /// throws <see cref="StoreUnavailableException"/> naming the address. With a state file the check
    /// is remembered across processes (as Nix remembers caches in its sqlite database), so a second
    /// mount of what is already substituted makes no request at all.
    /// </summary>
    public Task CheckReachableAsync(CancellationToken cancellationToken = default)
    {
        Task check = Volatile.Read(ref _cacheInfoCheck) ?? CheckCacheInfoOnceAsync();
        return check.IsCompletedSuccessfully ? check : check.WaitAsync(cancellationToken);
    }

    private Task CheckCacheInfoOnceAsync()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _cacheInfoCheck, started.Task, null) is { } existing)
            return existing;
        _ = Task.Run(async () =>
        {
            try
            {
                await CheckCacheInfoAsync(_lifetime.Token).ConfigureAwait(false);
                started.SetResult();
            }
            catch (Exception e)
            {
                // A failed check (the cache was unreachable) is tried again by the next lookup.
                _ = Interlocked.CompareExchange(ref _cacheInfoCheck, null, started.Task);
                started.SetException(e);
            }
        });
        return started.Task;
    }

    private async Task CheckCacheInfoAsync(CancellationToken cancellationToken)
    {
        if (_cacheInfoFile is not null && File.Exists(_cacheInfoFile))
            return;
        byte[]? info = await _http.GetSmallAsync("nix-cache-info", 64 * 1024, cancellationToken).ConfigureAwait(false);
        foreach (string line in System.Text.Encoding.UTF8.GetString(info ?? []).Split('\n'))
        {
            if (line.StartsWith("StoreDir:", StringComparison.Ordinal) && line["StoreDir:".Length..].Trim() is var storeDir
                && storeDir != Model.StorePath.StoreDirectory)
                throw new StoreUnavailableException($"binary cache '{_address}' is for store directory '{storeDir}', not {Model.StorePath.StoreDirectory}");
        }
        if (_cacheInfoFile is not null)
        {
            try
            {
                string temp = _cacheInfoFile + "." + Environment.ProcessId + ".tmp";
                await File.WriteAllBytesAsync(temp, info ?? [], cancellationToken).ConfigureAwait(false);
                File.Move(temp, _cacheInfoFile, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Only a remembered check is lost: the next process asks again.
            }
        }
    }

    public async ValueTask<PathInfo?> GetAsync(StorePathHash hash, CancellationToken cancellationToken = default)
    {
        if (await _kept.GetAsync(hash, cancellationToken).ConfigureAwait(false) is { } kept)
            return kept;
        if (_absentUntil.TryGetValue(hash, out long until))
        {
            if (_time.GetTimestamp() < until)
                return null;
            _absentUntil.TryRemove(new KeyValuePair<StorePathHash, long>(hash, until));
        }
        return await SharedFetch(hash).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The narinfo of a path, parsed and trusted, or null when the cache does not have it (or has
    /// one that is malformed or untrusted: logged once, as absent). Used by <c>copy</c> to learn a
    /// closure before substituting it.
    /// </summary>
    public async Task<TrustedNarInfo?> GetNarInfoAsync(StorePathHash hash, CancellationToken cancellationToken = default)
    {
        await CheckReachableAsync(cancellationToken).ConfigureAwait(false);
        string hashPart = NixBase32.Encode(hash.ToArray());
        byte[]? bytes = await _http.GetSmallAsync(hashPart + ".narinfo", NarInfo.MaxBytes, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
            return null;
        NarInfo narInfo;
        try
        {
            narInfo = NarInfo.Parse(bytes, hash);
        }
        catch (StoreValidationException e)
        {
            LogRejected(Model.StorePath.StoreDirectory + "/" + hashPart, e.Message);
            return null;
        }
        SignatureVerdict verdict = NarInfoTrust.Check(narInfo, _address.TrustedPublicKeys);
        if (verdict == SignatureVerdict.Untrusted)
        {
            LogRejected(narInfo.StorePath.AbsolutePath, narInfo.Signatures.Count == 0
                ? $"it has no signature, and the address trusts only {KeyNames()}"
                : $"no signature from a trusted key ({KeyNames()}) verifies; signed by {string.Join(", ", narInfo.Signatures.Select(s => s.KeyName).Distinct())}");
            return null;
        }
        return new TrustedNarInfo(narInfo, verdict);
    }

    /// <summary>
    /// Downloads, decompresses and ingests the NAR of a trusted narinfo, checks its size and hash,
    /// and puts the PathInfo into the kept service. Throws <see cref="StoreValidationException"/> for
    /// a NAR that is invalid or disagrees with the narinfo (nothing is registered then).
    /// </summary>
    public async Task<PathInfo> SubstituteAsync(TrustedNarInfo trusted, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trusted);
        NarInfo narInfo = trusted.NarInfo;
        NarIngestResult result;
        try
        {
            // Three stages on their own threads, each a bounded pipe ahead of the next: the download,
            // the decompression, and the ingestion (parse, SHA-256, BLAKE3, write).
            Stream download = await _http.OpenReadAsync(narInfo.Url, cancellationToken).ConfigureAwait(false);
            await using Stream nar = new ReadAheadStream(NarCompression.Open(new ReadAheadStream(download, ReadAheadBytes), narInfo.Compression), ReadAheadBytes);
            result = await new NarIngester(_blobs, _directories).IngestAsync(nar, narInfo.NarSize, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidNarException or InvalidDataException or StoreNotFoundException)
        {
            throw new StoreValidationException($"{narInfo.StorePath.AbsolutePath}: the NAR at {narInfo.Url}: {e.Message}");
        }
        if (result.NarSize != narInfo.NarSize)
            throw new StoreValidationException($"{narInfo.StorePath.AbsolutePath}: the NAR is {result.NarSize} bytes, the narinfo says NarSize {narInfo.NarSize}");
        if (!CryptographicOperations.FixedTimeEquals(result.NarSha256, narInfo.NarHash))
            throw new StoreValidationException($"{narInfo.StorePath.AbsolutePath}: the NAR has sha256:{NixBase32.Encode(result.NarSha256)}, the narinfo says NarHash sha256:{NixBase32.Encode(narInfo.NarHash)}");
        // Trusted for its content address alone: the contents must have that hash too.
        if (trusted.Verdict == SignatureVerdict.ContentAddressed)
        {
            try
            {
                await ContentAddressCheck.VerifyAsync(narInfo.ParsedContentAddress!, result.Root, _blobs, _narCalculator, cancellationToken).ConfigureAwait(false);
            }
            catch (StoreValidationException e)
            {
                throw new StoreValidationException($"{narInfo.StorePath.AbsolutePath}: {e.Message}");
            }
        }
        Interlocked.Add(ref _narBytesIngested, (long)result.NarSize);

        Node root = result.Root;
        PathInfoRules.SetNodeName(root, ByteString.CopyFromUtf8(narInfo.StorePath.Basename));
        return await _kept.PutAsync(narInfo.ToPathInfo(root), cancellationToken).ConfigureAwait(false);
    }

    private Task<PathInfo?> SharedFetch(StorePathHash hash)
    {
        if (_fetches.TryGetValue(hash, out Task<PathInfo?>? inFlight))
            return inFlight;
        var completion = new TaskCompletionSource<PathInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        inFlight = _fetches.GetOrAdd(hash, completion.Task);
        if (inFlight != completion.Task)
            return inFlight;
        _ = Task.Run(async () =>
        {
            try
            {
                completion.SetResult(await FetchAsync(hash, _lifetime.Token).ConfigureAwait(false));
            }
            catch (Exception e)
            {
                completion.SetException(e);
            }
            finally
            {
                _fetches.TryRemove(new KeyValuePair<StorePathHash, Task<PathInfo?>>(hash, completion.Task));
            }
        });
        return completion.Task;
    }

    private async Task<PathInfo?> FetchAsync(StorePathHash hash, CancellationToken cancellationToken)
    {
        // Another process sharing the kept store may have fetched it meanwhile.
        if (await _kept.GetAsync(hash, cancellationToken).ConfigureAwait(false) is { } kept)
            return kept;
        TrustedNarInfo? narInfo = await GetNarInfoAsync(hash, cancellationToken).ConfigureAwait(false);
        if (narInfo is null)
        {
            if (_address.NegativeTtl > TimeSpan.Zero)
                _absentUntil[hash] = _time.GetTimestamp() + (long)(_address.NegativeTtl.TotalSeconds * _time.TimestampFrequency);
            return null;
        }
        // A bad NAR is thrown, naming the store path, for the caller to report once (the mount logs
        // and answers EIO; copy lists it); a path that is absent is logged here, as no one else sees why.
        return await SubstituteAsync(narInfo, cancellationToken).ConfigureAwait(false);
    }

    private string KeyNames() => string.Join(", ", _address.TrustedPublicKeys.Select(k => k.Name));

    /// <summary>A binary cache is read-only here: <c>copy</c> and the mount fill the local services.</summary>
    public ValueTask<PathInfo> PutAsync(PathInfo pathInfo, CancellationToken cancellationToken = default) =>
        throw new StoreUnavailableException($"PathInfo service '{_address}' is a Nix binary cache, read-only here; put PathInfos into a local:// or grpc+ store");

    /// <summary>The paths substituted so far (a binary cache cannot be listed).</summary>
    public IAsyncEnumerable<PathInfo> ListAsync(CancellationToken cancellationToken = default) => _kept.ListAsync(cancellationToken);

    public ValueTask<NarHash> CalculateNarAsync(Node node, CancellationToken cancellationToken = default) =>
        _narCalculator.CalculateAsync(node, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_lifetime.IsCancellationRequested)
            return;
        await _lifetime.CancelAsync().ConfigureAwait(false);
        foreach (Task<PathInfo?> fetch in _fetches.Values)
        {
            try { await fetch.ConfigureAwait(false); }
            catch (Exception) { /* its waiters saw it */ }
        }
        _http.Dispose();
        _lifetime.Dispose();
        if (_ownsKept)
            await _kept.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{StorePath}: rejected, as absent: {Reason}")]
    private partial void LogRejected(string storePath, string reason);
}

