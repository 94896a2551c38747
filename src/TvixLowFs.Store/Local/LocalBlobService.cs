using Microsoft.Win32.SafeHandles;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Local;

/// <summary>
/// Blobs of a <see cref="LocalStore"/>: each a plain file <c>blobs/&lt;hex[0..2]&gt;/&lt;hex&gt;</c>
/// holding exactly the blob's bytes, so readers get a descriptor the FUSE layer can splice from.
/// </summary>
public sealed class LocalBlobService(LocalStore store) : IBlobService
{
    public LocalStore Store { get; } = store;

    public ValueTask<long?> StatAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        var file = new FileInfo(Store.BlobPath(digest));
        return ValueTask.FromResult(file.Exists ? file.Length : (long?)null);
    }

    public ValueTask<BlobReader?> OpenReadAsync(B3Digest digest, CancellationToken cancellationToken = default)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(Store.BlobPath(digest), FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return ValueTask.FromResult<BlobReader?>(null);
        }
        return ValueTask.FromResult<BlobReader?>(new FileBlobReader(handle));
    }

    public BlobWriter OpenWrite() => new Writer(Store);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class FileBlobReader(SafeFileHandle handle) : BlobReader
    {
        private readonly long _length = RandomAccess.GetLength(handle);

        public override long Length => _length;

        public override SafeFileHandle LocalFile => handle;

        public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            // pread: positional and thread-safe; a blob file never changes, so this cannot block on anything but the disk.
            int total = 0;
            while (total < buffer.Length)
            {
                int read = RandomAccess.Read(handle, buffer.Span[total..], offset + total);
                if (read == 0)
                    break;
                total += read;
            }
            return ValueTask.FromResult(total);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                handle.Dispose();
        }
    }

    /// <summary>Writes to a temp file while hashing; close publishes it under the digest it computed.</summary>
    private sealed class Writer : BlobWriter
    {
        private readonly LocalStore _store;
        private readonly string _tempPath;
        private readonly SafeFileHandle _handle;
        private Blake3.Hasher _hasher = Blake3.Hasher.New();
        private long _length;
        private bool _done;

        public Writer(LocalStore store)
        {
            _store = store;
            (_tempPath, _handle) = store.CreateTempFile("blob");
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            cancellationToken.ThrowIfCancellationRequested();
            _hasher.Update(data.Span);
            RandomAccess.Write(_handle, data.Span, _length);
            _length += data.Length;
            return ValueTask.CompletedTask;
        }

        public override ValueTask<B3Digest> CloseAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            _done = true;
            Span<byte> hash = stackalloc byte[B3Digest.Length];
            _hasher.Finalize(hash);
            _hasher.Dispose();
            B3Digest digest = B3Digest.FromBytes(hash);
            _store.Publish(_tempPath, _handle, _store.BlobPath(digest), overwrite: false);
            return ValueTask.FromResult(digest);
        }

        public override ValueTask DisposeAsync()
        {
            if (!_done)
            {
                _done = true;
                _hasher.Dispose();
                _handle.Dispose();
                File.Delete(_tempPath);
            }
            return ValueTask.CompletedTask;
        }
    }
}
