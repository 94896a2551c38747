using Microsoft.Win32.SafeHandles;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>
/// A large blob's bytes in a temp file deleted on close: RAM stays bounded, and the mount can
/// splice from the descriptor (<see cref="BlobReader.LocalFile"/>).
/// </summary>
internal sealed class FileBlobContents : BlobContents
{
    private readonly SafeFileHandle _file;
    private readonly long _size;
    private bool _owned = true;

    private FileBlobContents(SafeFileHandle file, long size)
    {
        _file = file;
        _size = size;
    }

    public static FileBlobContents Create(long size)
    {
        string path = Path.Join(Path.GetTempPath(), "tvixlowfs-blob-" + Guid.NewGuid().ToString("N"));
        SafeFileHandle file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None,
            FileOptions.DeleteOnClose, preallocationSize: size);
        return new FileBlobContents(file, size);
    }

    public override void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(_file, data, offset);

    public override BlobReader Reader()
    {
        _owned = false;
        return new FileReader(_file, _size);
    }

    public override void Dispose()
    {
        if (_owned)
            _file.Dispose();
    }

    private sealed class FileReader(SafeFileHandle file, long size) : BlobReader
    {
        public override long Length => size;

        public override SafeFileHandle? LocalFile => file;

        public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            if (offset >= size)
                return ValueTask.FromResult(0);
            int wanted = (int)Math.Min(buffer.Length, size - offset);
            int total = 0;
            while (total < wanted)
            {
                int read = RandomAccess.Read(file, buffer.Span[total..wanted], offset + total);
                if (read == 0)
                    break;
                total += read;
            }
            return ValueTask.FromResult(total);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                file.Dispose();
        }
    }
}
