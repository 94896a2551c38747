using Microsoft.Win32.SafeHandles;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Local;

/// <summary>
/// Blobs of a <see cref="LocalStore"/>: each a plain file <c>blobs/&lt;hex[0..2]&gt;/&lt;hex&gt;</c>
/// holding exactly the blob's bytes, so readers get a descriptor the FUSE layer can splice from.
/// A write batch (<see cref="BeginWriteBatch"/>) names its blobs with one sync for all of them.
/// </summary>
public sealed class LocalBlobService(LocalStore store) : IBlobService, IBlobWriteBatching
{
    public LocalStore Store { get; } = store;

    public ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        var file = new FileInfo(Store.BlobPath(digest));
        return ValueTask.FromResult(file.Exists ? file.Length : (long?)null);
    }

    public ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        SafeFileHandle? handle = StoreFiles.OpenReadOnly(Store.BlobPath(digest));
        return ValueTask.FromResult<BlobReader?>(handle is null ? null : new FileBlobReader(handle));
    }

    public BlobWriter OpenWrite() => new Writer(Store, batch: null);

    public IBlobWriteBatch BeginWriteBatch() => new LocalBlobWriteBatch(Store);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// Writes to a temp file while hashing; close publishes it under the digest it computed, or,
    /// in a batch, hands the closed temp file to the batch to be named at its commit.
    /// </summary>
    internal sealed class Writer : BlobWriter
    {
        private readonly LocalStore _store;
        private readonly LocalBlobWriteBatch? _batch;
        private readonly string _tempPath;
        private readonly SafeFileHandle _handle;
        private readonly Blake3Hasher _hasher = new();
        private long _length;
        private bool _done;

        public Writer(LocalStore store, LocalBlobWriteBatch? batch)
        {
            _store = store;
            _batch = batch;
            try
            {
                (_tempPath, _handle) = store.CreateTempFile("blob");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw store.Failure("starting a blob", e);
            }
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            cancellationToken.ThrowIfCancellationRequested();
            _hasher.Update(data.Span);
            try
            {
                // write(2), not RandomAccess: that adds an fstat and an lseek per new file.
                StoreFiles.WriteAll(_handle, data.Span, _tempPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw _store.Failure("writing a blob", e);
            }
            _length += data.Length;
            return ValueTask.CompletedTask;
        }

        public override ValueTask<B3Digest> CloseAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            _done = true;
            B3Digest digest = _hasher.Finish();
            if (_batch is not null)
            {
                // Unlocked now: the batch holds thousands of closed temp files, not descriptors.
                _handle.Dispose();
                _batch.Add(_tempPath, _store.BlobPath(digest));
                return ValueTask.FromResult(digest);
            }
            try
            {
                _store.Publish(_tempPath, _handle, _store.BlobPath(digest), overwrite: false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw _store.Failure($"storing blob {digest}", e);
            }
            return ValueTask.FromResult(digest);
        }

        public override ValueTask DisposeAsync()
        {
            if (!_done)
            {
                _done = true;
                _handle.Dispose();
                File.Delete(_tempPath);
            }
            return ValueTask.CompletedTask;
        }
    }
}
