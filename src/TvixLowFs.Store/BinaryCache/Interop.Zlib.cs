using System.Runtime.InteropServices;

// In the global Interop class, beside the libc calls linked from src/Common/Interop (dotnet/runtime's layout).
/// <summary>
/// zlib's inflate functions, for gzip NARs: .NET's GZipStream cannot tell a truncated stream from a
/// complete one (it returns the shorter result), zlib's own API can. Under the JIT "libz" is
/// Debian's zlib (libz.so, zlib1g-dev); the NativeAOT binary already links the runtime's zlib-ng
/// in zlib-compatible mode (same functions, same <c>z_stream</c>) and binds these directly
/// (DirectPInvoke "libz"). <see cref="ZStream"/> mirrors <c>z_stream</c>, checked against
/// native/compression_layout_probe. zlib keeps a pointer to the <c>z_stream</c> in its state and
/// refuses calls through any other address, so the struct lives in native memory.
/// </summary>
internal static partial class Interop
{
    internal static unsafe partial class Zlib
    {
        internal const string Library = "libz";

        /// <summary>The version this binding was written against, NUL-terminated; inflateInit2_ checks only its major number.</summary>
        internal static ReadOnlySpan<byte> Version => "1.2.13\0"u8;

        internal const int Ok = 0;
        internal const int StreamEnd = 1;
        internal const int NeedDict = 2;
        internal const int StreamError = -2;
        internal const int DataError = -3;
        internal const int MemError = -4;
        internal const int BufError = -5;
        internal const int VersionError = -6;

        internal const int NoFlush = 0;

        /// <summary>windowBits for inflateInit2: 15 (the largest window) + 16 (gzip wrapper only, no zlib or raw).</summary>
        internal const int GzipWindowBits = 15 + 16;

        /// <summary><c>z_stream</c> (x86-64: 112 bytes). Zeroed means the default allocator.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct ZStream
        {
            public byte* NextIn;
            public uint AvailIn;
            public nuint TotalIn;
            public byte* NextOut;
            public uint AvailOut;
            public nuint TotalOut;
            public byte* Msg;
            public void* State;
            public void* ZAlloc;
            public void* ZFree;
            public void* Opaque;
            public int DataType;
            public nuint Adler;
            public nuint Reserved;
        }

        /// <summary><c>int inflateInit2_(z_streamp strm, int windowBits, const char *version, int stream_size)</c> (the inflateInit2 macro).</summary>
        [LibraryImport(Library, EntryPoint = "inflateInit2_")]
        internal static partial int InflateInit2(ZStream* stream, int windowBits, byte* version, int streamSize);

        /// <summary><c>int inflate(z_streamp strm, int flush)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "inflate")]
        internal static partial int Inflate(ZStream* stream, int flush);

        /// <summary><c>int inflateReset(z_streamp strm)</c>: ready for another gzip member, keeping the allocation.</summary>
        [LibraryImport(Library, EntryPoint = "inflateReset")]
        internal static partial int InflateReset(ZStream* stream);

        /// <summary><c>int inflateEnd(z_streamp strm)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "inflateEnd")]
        internal static partial int InflateEnd(ZStream* stream);

        /// <summary><c>const char *zlibVersion(void)</c>: a static string.</summary>
        [LibraryImport(Library, EntryPoint = "zlibVersion")]
        internal static partial byte* ZlibVersion();
    }
}
