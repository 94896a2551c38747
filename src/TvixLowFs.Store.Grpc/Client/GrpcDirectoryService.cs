using System.Runtime.CompilerServices;
using Grpc.Core;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Grpc.Client;

/// <summary>
/// A remote DirectoryService. Nothing received is trusted: every Directory is checked against
/// the digest it was asked by (or referred to by) and validated before it is returned.
/// </summary>
public sealed class GrpcDirectoryService : IDirectoryService
{
    private readonly GrpcStoreChannel _channel;
    private readonly DirectoryService.DirectoryServiceClient _client;
    private readonly bool _ownsChannel;

    public GrpcDirectoryService(GrpcStoreChannel channel, bool ownsChannel = false)
    {
        _channel = channel;
        _client = new DirectoryService.DirectoryServiceClient(channel.Channel);
        _ownsChannel = ownsChannel;
    }

    public async ValueTask<Directory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        using var call = _client.Get(new GetDirectoryRequest { Digest = digest.ToByteString() }, _channel.Unary(cancellationToken));
        Directory directory;
        try
        {
            if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                throw new StoreUnavailableException($"{_channel.Address}: get directory {digest}: the server sent nothing");
            directory = call.ResponseStream.Current;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
        catch (RpcException e)
        {
            throw _channel.Translate(e, $"get directory {digest}", cancellationToken);
        }
        Verify(directory, digest);
        return directory;
    }

    public async IAsyncEnumerable<Directory> GetRecursiveAsync(B3Digest root, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var progress = new ProgressDeadline(_channel.Options.Timeout, cancellationToken);
        using var call = _client.Get(new GetDirectoryRequest { Digest = root.ToByteString(), Recursive = true },
            new CallOptions(cancellationToken: progress.Token));
        // Digests referred to by what was received and not received yet, with the size the referrer announced.
        var pending = new Dictionary<B3Digest, ulong>();
        var received = new HashSet<B3Digest>();
        bool first = true;
        string what = $"get directory {root} recursively";
        while (await _channel.MoveNextAsync(call.ResponseStream, progress, what, cancellationToken).ConfigureAwait(false))
        {
            var directory = call.ResponseStream.Current;
            var digest = DirectoryRules.Digest(directory);
            if (first)
            {
                if (digest != root)
                    throw new StoreValidationException($"{_channel.Address}: asked directory {root}, the first received is {digest}");
                first = false;
            }
            else
            {
                if (!pending.Remove(digest, out ulong announced))
                    throw new StoreValidationException($"{_channel.Address}: directory {digest} under {root} was not referred to by anything received before it");
                if (announced != DirectoryRules.Size(directory))
                    throw new StoreValidationException($"{_channel.Address}: directory {digest} has size {DirectoryRules.Size(directory)}, its parent says {announced}");
            }
            DirectoryRules.Validate(directory);
            received.Add(digest);
            foreach (var child in directory.Directories)
            {
                var childDigest = B3Digest.FromByteString(child.Digest);
                if (!received.Contains(childDigest))
                    pending.TryAdd(childDigest, child.Size);
            }
            yield return directory;
        }
        if (first)
            throw new StoreNotFoundException($"{_channel.Address}: directory {root} not found");
        if (pending.Count > 0)
            throw new StoreNotFoundException($"{_channel.Address}: directory {pending.Keys.First()} under {root} was not sent");
    }

    public async ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default)
    {
        await using var putter = BeginPut();
        await putter.PutAsync(directory, cancellationToken).ConfigureAwait(false);
        return await putter.CloseAsync(cancellationToken).ConfigureAwait(false);
    }

    public IDirectoryPutter BeginPut() => new GrpcDirectoryPutter(this);

    public ValueTask DisposeAsync()
    {
        if (_ownsChannel)
            _channel.Dispose();
        return ValueTask.CompletedTask;
    }

    private void Verify(Directory directory, B3Digest asked)
    {
        var digest = DirectoryRules.Digest(directory);
        if (digest != asked)
            throw new StoreValidationException($"{_channel.Address}: asked directory {asked}, received {digest}");
        DirectoryRules.Validate(directory);
    }

    /// <summary>Streams the graph as it is given; the server stores it only when the whole stream is valid.</summary>
    private sealed class GrpcDirectoryPutter(GrpcDirectoryService service) : IDirectoryPutter
    {
        private readonly ClientStreamingPut<Directory, PutDirectoryResponse> _put = new(service._channel, service._client.Put, "put directories");
        private B3Digest? _last;

        public async ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_put.Closed, this);
            // Checked here too, so a bad directory is reported before anything is sent.
            DirectoryRules.Validate(directory);
            var digest = DirectoryRules.Digest(directory);
            await _put.WriteAsync(directory, cancellationToken).ConfigureAwait(false);
            _last = digest;
            return digest;
        }

        public async ValueTask<B3Digest> CloseAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_put.Closed, this);
            if (_last is not B3Digest last)
                throw new StoreValidationException("a directory put needs at least one directory");
            PutDirectoryResponse response = await _put.CompleteAsync(cancellationToken).ConfigureAwait(false);
            if (!B3Digest.TryFromBytes(response.RootDigest.Span, out var root) || root != last)
                throw new StoreUnavailableException($"{service._channel.Address}: put directories: the server answered a root other than {last}");
            return root;
        }

        public ValueTask DisposeAsync()
        {
            // Cancelling an unfinished put makes the server discard it.
            _put.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
