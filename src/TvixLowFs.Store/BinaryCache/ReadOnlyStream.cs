namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// The part every forward-only, read-only stream of the binary-cache read path has in common: no
/// seeking, no length, no writing (a NAR is read once, front to back). Subclasses supply the reads,
/// <see cref="Stream.CanRead"/> and disposal.
/// </summary>
internal abstract class ReadOnlyStream : Stream
{
    public sealed override bool CanSeek => false;
    public sealed override bool CanWrite => false;
    public sealed override long Length => throw new NotSupportedException();
    public sealed override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public sealed override void Flush() { }
    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public sealed override void SetLength(long value) => throw new NotSupportedException();
    public sealed override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
