using System.Runtime.InteropServices;

// In the global Interop class, beside the libc calls linked from src/Common/Interop (dotnet/runtime's layout).
/// <summary>
/// The few liblzma functions the xz decoder needs (Debian's liblzma: linked statically into the
/// NativeAOT binary through DirectPInvoke "liblzma", loaded as liblzma.so from liblzma-dev under
/// the JIT). <see cref="LzmaStream"/> mirrors <c>lzma_stream</c> field for field, checked against
/// native/compression_layout_probe.
/// </summary>
internal static partial class Interop
{
    internal static unsafe partial class Lzma
    {
        internal const string Library = "liblzma";

        // lzma_ret
        internal const int Ok = 0;
        internal const int StreamEnd = 1;
        internal const int UnsupportedCheck = 3;
        internal const int MemError = 5;
        internal const int MemlimitError = 6;
        internal const int FormatError = 7;
        internal const int OptionsError = 8;
        internal const int DataError = 9;
        internal const int BufError = 10;
        internal const int ProgError = 11;

        // lzma_action
        internal const int Run = 0;
        internal const int Finish = 3;

        // lzma_stream_decoder flags
        internal const uint TellUnsupportedCheck = 0x02;
        internal const uint Concatenated = 0x08;

        /// <summary><c>lzma_stream</c> (liblzma 5.4, x86-64: 136 bytes). Zeroed is <c>LZMA_STREAM_INIT</c>.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct LzmaStream
        {
            public byte* NextIn;
            public nuint AvailIn;
            public ulong TotalIn;
            public byte* NextOut;
            public nuint AvailOut;
            public ulong TotalOut;
            public void* Allocator;
            public void* Internal;
            public void* ReservedPtr1;
            public void* ReservedPtr2;
            public void* ReservedPtr3;
            public void* ReservedPtr4;
            public ulong SeekPos;
            public ulong ReservedInt2;
            public nuint ReservedInt3;
            public nuint ReservedInt4;
            public int ReservedEnum1;
            public int ReservedEnum2;
        }

        /// <summary><c>lzma_ret lzma_stream_decoder(lzma_stream *strm, uint64_t memlimit, uint32_t flags)</c>: .xz only.</summary>
        [LibraryImport(Library, EntryPoint = "lzma_stream_decoder")]
        internal static partial int StreamDecoder(LzmaStream* stream, ulong memoryLimit, uint flags);

        /// <summary><c>lzma_ret lzma_code(lzma_stream *strm, lzma_action action)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "lzma_code")]
        internal static partial int Code(LzmaStream* stream, int action);

        /// <summary><c>void lzma_end(lzma_stream *strm)</c>: frees the decoder's memory; safe on a zeroed stream.</summary>
        [LibraryImport(Library, EntryPoint = "lzma_end")]
        internal static partial void End(LzmaStream* stream);

        /// <summary><c>const char *lzma_version_string(void)</c>: a static string.</summary>
        [LibraryImport(Library, EntryPoint = "lzma_version_string")]
        internal static partial byte* VersionString();
    }
}
