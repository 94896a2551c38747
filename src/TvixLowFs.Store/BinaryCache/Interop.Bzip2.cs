using System.Runtime.InteropServices;

// In the global Interop class, beside the libc calls linked from src/Common/Interop (dotnet/runtime's layout).
/// <summary>
/// The libbz2 decompression functions (Debian's libbz2, the bzip2 reference implementation:
/// linked statically into the NativeAOT binary through DirectPInvoke "libbz2", loaded as
/// libbz2.so under the JIT). <see cref="BzStream"/> mirrors <c>bz_stream</c>, checked against
/// native/compression_layout_probe. libbz2 keeps a pointer to the <c>bz_stream</c> in its state
/// and refuses calls through any other address, so the struct lives in native memory.
/// </summary>
internal static partial class Interop
{
    internal static unsafe partial class Bzip2
    {
        internal const string Library = "libbz2";

        internal const int Ok = 0;
        internal const int StreamEnd = 4;
        internal const int ParamError = -2;
        internal const int MemError = -3;
        internal const int DataError = -4;
        internal const int DataErrorMagic = -5;
        internal const int ConfigError = -9;

        /// <summary><c>bz_stream</c> (x86-64: 80 bytes). Zeroed means the default allocator.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct BzStream
        {
            public byte* NextIn;
            public uint AvailIn;
            public uint TotalInLo32;
            public uint TotalInHi32;
            public byte* NextOut;
            public uint AvailOut;
            public uint TotalOutLo32;
            public uint TotalOutHi32;
            public void* State;
            public void* BzAlloc;
            public void* BzFree;
            public void* Opaque;
        }

        /// <summary><c>int BZ2_bzDecompressInit(bz_stream *strm, int verbosity, int small)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "BZ2_bzDecompressInit")]
        internal static partial int DecompressInit(BzStream* stream, int verbosity, int small);

        /// <summary><c>int BZ2_bzDecompress(bz_stream *strm)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "BZ2_bzDecompress")]
        internal static partial int Decompress(BzStream* stream);

        /// <summary><c>int BZ2_bzDecompressEnd(bz_stream *strm)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "BZ2_bzDecompressEnd")]
        internal static partial int DecompressEnd(BzStream* stream);

        /// <summary><c>const char *BZ2_bzlibVersion(void)</c>: a static string.</summary>
        [LibraryImport(Library, EntryPoint = "BZ2_bzlibVersion")]
        internal static partial byte* LibraryVersion();
    }
}
