using System.Runtime.CompilerServices;
using Grpc.Core;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Grpc.Client;

/// <summary>
/// A remote DirectoryService. Nothing received is trusted: every Directory is checked against
/// the digest it was asked by (or referred to by) and validated before it is returned, once
/// (as a <see cref="VerifiedDirectory"/>, which no later layer checks again).
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

    public async ValueTask<VerifiedDirectory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default)
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
        try
        {
            return VerifiedDirectory.Verify(directory, digest);
        }
        catch (StoreValidationException e)
        {
            throw new StoreValidationException($"{_channel.Address}: {e.Message}");
        }
    }

    public async IAsyncEnumerable<VerifiedDirectory> GetRecursiveAsync(B3Digest root, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var progress = new ProgressDeadline(_channel.Options.Timeout, cancellationToken);
        using var call = _client.Get(new GetDirectoryRequest { Digest = root.ToByteString(), Recursive = true },
            new CallOptions(cancellationToken: progress.Token));
        var reader = new RecursiveGetReader(root, $"{_channel.Address}: ");
        while (true)
        {
            bool more;
            try
            {
                more = await call.ResponseStream.MoveNext(progress.Token).ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                throw _channel.Translate(e, $"get directory {root} recursively", cancellationToken, progress);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && progress.Expired)
            {
                throw new StoreUnavailableException($"{_channel.Address}: get directory {root} recursively: no progress within {_channel.Options.Timeout.TotalSeconds:0.###} s");
            }
            if (!more)
                break;
            progress.Progress();
            yield return reader.Accept(call.ResponseStream.Current);
        }
        reader.Complete();
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

    /// <summary>Streams the graph as it is given; the server stores it only when the whole stream is valid.</summary>
    private sealed class GrpcDirectoryPutter(GrpcDirectoryService service) : IDirectoryPutter
    {
        private readonly CancellationTokenSource _abandon = new();
        private ProgressDeadline? _progress;
        private AsyncClientStreamingCall<Directory, PutDirectoryResponse>? _call;
        private B3Digest? _last;
        private bool _closed;

        public async ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            // Checked here too, so a bad directory is reported before anything is sent.
            B3Digest digest = VerifiedDirectory.Create(directory).Digest;
            var call = Start();
            try
            {
                await call.RequestStream.WriteAsync(directory, cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                throw await service._channel.TranslateWriteFailureAsync(call.ResponseAsync, e, "put directories", cancellationToken, _progress).ConfigureAwait(false);
            }
            _progress!.Progress();
            _last = digest;
            return digest;
        }

        public async ValueTask<B3Digest> CloseAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_last is not B3Digest last)
                throw new StoreValidationException("a directory put needs at least one directory");
            var call = Start();
            PutDirectoryResponse response;
            try
            {
                await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                response = await call.ResponseAsync.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                throw service._channel.Translate(e, "put directories", cancellationToken, _progress);
            }
            _closed = true;
            if (!B3Digest.TryFromBytes(response.RootDigest.Span, out var root) || root != last)
                throw new StoreUnavailableException($"{service._channel.Address}: put directories: the server answered a root other than {last}");
            return root;
        }

        public ValueTask DisposeAsync()
        {
            if (!_closed)
                _abandon.Cancel();
            _closed = true;
            _call?.Dispose();
            _progress?.Dispose();
            _abandon.Dispose();
            return ValueTask.CompletedTask;
        }

        /// <summary>A write fails once the server has rejected the stream; its status says why.</summary>
        private AsyncClientStreamingCall<Directory, PutDirectoryResponse> Start()
        {
            if (_call is not null)
                return _call;
            _progress = new ProgressDeadline(service._channel.Options.Timeout, _abandon.Token);
            _call = service._client.Put(new CallOptions(cancellationToken: _progress.Token));
            return _call;
        }
    }
}
