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
        string what = $"get directory {root} recursively";
        while (await _channel.MoveNextAsync(call.ResponseStream, progress, what, cancellationToken).ConfigureAwait(false))
        {
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
        private readonly ClientStreamingPut<Directory, PutDirectoryResponse> _put = new(service._channel, service._client.Put, "put directories");
        private B3Digest? _last;

        public async ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_put.Closed, this);
            // Checked here too, so a bad directory is reported before anything is sent.
            B3Digest digest = VerifiedDirectory.Create(directory).Digest;
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
