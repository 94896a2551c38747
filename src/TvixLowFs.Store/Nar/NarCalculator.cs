using System.Buffers;
using System.Security.Cryptography;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Nar;

/// <summary>
/// NAR size and SHA-256 of a node graph held in a blob and a directory service: the NAR is
/// streamed through <see cref="NarWriter"/> into the hash, a buffer of file contents at a time,
/// so neither the archive nor any file is ever held whole.
/// </summary>
public sealed class NarCalculator(IBlobService blobs, IDirectoryService directories)
{
    private const int ChunkSize = 256 * 1024;

    public async ValueTask<NarHash> CalculateAsync(Node node, CancellationToken cancellationToken = default)
    {
        DirectoryRules.ValidateNode(node, requireName: false);
        // Fetch the whole directory graph first: one recursive get (one round trip for a remote store).
        var graph = new Dictionary<B3Digest, Directory>();
        if (node.NodeCase == Node.NodeOneofCase.Directory)
        {
            await foreach (Directory directory in directories.GetRecursiveAsync(B3Digest.FromByteString(node.Directory.Digest), cancellationToken).ConfigureAwait(false))
                graph.TryAdd(DirectoryRules.Digest(directory), directory);
        }

        using var sink = new Sha256CountingStream();
        var nar = new NarWriter(sink);
        nar.WriteHeader();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            switch (node.NodeCase)
            {
                case Node.NodeOneofCase.Directory:
                    await WriteDirectoryAsync(nar, graph, B3Digest.FromByteString(node.Directory.Digest), buffer, cancellationToken).ConfigureAwait(false);
                    break;
                case Node.NodeOneofCase.File:
                    await WriteFileAsync(nar, node.File, buffer, cancellationToken).ConfigureAwait(false);
                    break;
                case Node.NodeOneofCase.Symlink:
                    nar.WriteSymlink(node.Symlink.Target.Span);
                    break;
                default:
                    throw new StoreValidationException("node is not set");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return new NarHash((ulong)sink.Length, sink.Finish());
    }

    private async ValueTask WriteDirectoryAsync(
        NarWriter nar, Dictionary<B3Digest, Directory> graph, B3Digest digest, byte[] buffer, CancellationToken cancellationToken)
    {
        if (!graph.TryGetValue(digest, out Directory? directory))
            throw new StoreNotFoundException($"directory {digest} not found");
        nar.BeginDirectory();
        // The three lists are each sorted by name; the NAR wants them merged.
        int d = 0, f = 0, s = 0;
        while (true)
        {
            ByteString? dn = d < directory.Directories.Count ? directory.Directories[d].Name : null;
            ByteString? fn = f < directory.Files.Count ? directory.Files[f].Name : null;
            ByteString? sn = s < directory.Symlinks.Count ? directory.Symlinks[s].Name : null;
            ByteString? least = Least(Least(dn, fn), sn);
            if (least is null)
                break;
            nar.BeginEntry(least.Span);
            if (ReferenceEquals(least, dn))
            {
                await WriteDirectoryAsync(nar, graph, B3Digest.FromByteString(directory.Directories[d].Digest), buffer, cancellationToken).ConfigureAwait(false);
                d++;
            }
            else if (ReferenceEquals(least, fn))
            {
                await WriteFileAsync(nar, directory.Files[f], buffer, cancellationToken).ConfigureAwait(false);
                f++;
            }
            else
            {
                nar.WriteSymlink(directory.Symlinks[s].Target.Span);
                s++;
            }
            nar.EndEntry();
        }
        nar.EndDirectory();
    }

    private static ByteString? Least(ByteString? a, ByteString? b) =>
        a is null ? b : b is null ? a : a.Span.SequenceCompareTo(b.Span) <= 0 ? a : b;

    private async ValueTask WriteFileAsync(NarWriter nar, FileNode file, byte[] buffer, CancellationToken cancellationToken)
    {
        B3Digest digest = B3Digest.FromByteString(file.Digest);
        using BlobReader reader = await blobs.OpenReadAsync(digest, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreNotFoundException($"blob {digest} (file '{NodeName.Display(file.Name)}') not found");
        if ((ulong)reader.Length != file.Size)
            throw new StoreValidationException(
                $"file '{NodeName.Display(file.Name)}' says {file.Size} bytes but blob {digest} has {reader.Length}");
        nar.BeginFile(file.Executable, file.Size);
        long offset = 0;
        while (offset < reader.Length)
        {
            int read = await reader.ReadAtAsync(offset, buffer.AsMemory(0, (int)Math.Min(buffer.Length, reader.Length - offset)), cancellationToken).ConfigureAwait(false);
            if (read == 0)
                throw new StoreUnavailableException($"blob {digest} ended at {offset} of {reader.Length} bytes");
            nar.WriteFileContents(buffer.AsSpan(0, read));
            offset += read;
        }
        nar.EndFile();
    }

    /// <summary>A write-only stream that feeds SHA-256 and counts bytes: the NAR goes nowhere else.</summary>
    private sealed class Sha256CountingStream : Stream
    {
        private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private long _length;

        public byte[] Finish() => _sha256.GetHashAndReset();

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _sha256.AppendData(buffer);
            _length += buffer.Length;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void WriteByte(byte value) => Write([value]);
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                _sha256.Dispose();
            base.Dispose(disposing);
        }
    }
}
