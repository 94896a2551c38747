using System.Runtime.InteropServices;

namespace TvixLowFs.Store.BinaryCache;

/// <summary>
/// A <see cref="DecoderStream"/> whose decoder is a C library's stream struct (libbz2's bz_stream,
/// zlib's z_stream, liblzma's lzma_stream). The struct lives in zeroed native memory: libbz2
/// remembers its address and refuses calls through another, and all three keep pointers into it,
/// so it needs a stable address for the decoder's lifetime. It is ended and freed by
/// <see cref="Dispose(bool)"/> or the finalizer.
/// </summary>
internal abstract unsafe class NativeDecoderStream<TState> : DecoderStream where TState : unmanaged
{
    private TState* _state;

    /// <summary>Allocates the zeroed struct; the subclass's constructor then initialises it, calling <see cref="InitFailed"/> if that fails.</summary>
    protected NativeDecoderStream(Stream inner) : base(inner) => _state = (TState*)NativeMemory.AllocZeroed((nuint)sizeof(TState));

    ~NativeDecoderStream() => Dispose(false);

    /// <summary>The struct, or <see cref="ObjectDisposedException"/> once it is freed.</summary>
    protected TState* State => _state != null ? _state : throw new ObjectDisposedException(GetType().Name);

    /// <summary>
    /// For the subclass's constructor when the library's init call failed: frees the struct
    /// (there is nothing to end) and returns the exception to throw.
    /// </summary>
    protected InvalidOperationException InitFailed(string message)
    {
        NativeMemory.Free(_state);
        _state = null;
        GC.SuppressFinalize(this);
        return new InvalidOperationException(message);
    }

    /// <summary>The library's end call (BZ2_bzDecompressEnd, inflateEnd, lzma_end) on an initialised struct.</summary>
    protected abstract void End(TState* state);

    protected override void Dispose(bool disposing)
    {
        if (_state != null)
        {
            End(_state);
            NativeMemory.Free(_state);
            _state = null;
        }
        base.Dispose(disposing);
    }
}
