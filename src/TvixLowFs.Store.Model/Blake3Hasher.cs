using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace TvixLowFs.Store.Model;

/// <summary>
/// Incremental BLAKE3-256 through the official C implementation (native/, libtvixlowfs_blake3),
/// which picks SSE2, SSE4.1, AVX2 or AVX-512 at run time: a NativeAOT binary built for plain
/// x86-64 still hashes with the widest vectors the CPU has.
/// <para>
/// The C <c>blake3_hasher</c> lives inline in this object (1912 bytes, pinned by <c>fixed</c> only
/// for the length of each call: the C code keeps no pointer to it between calls), so a hasher is
/// one managed allocation, owns no native memory and needs no disposal. Not thread-safe; reuse
/// one with <see cref="Reset"/>.
/// </para>
/// </summary>
public sealed unsafe partial class Blake3Hasher
{
    /// <summary>The library name every import binds: linked statically into the NativeAOT binary
    /// (DirectPInvoke), found as libtvixlowfs_blake3.so next to the assembly under the JIT.</summary>
    internal const string Library = "tvixlowfs_blake3";

    /// <summary><c>sizeof(blake3_hasher)</c> in BLAKE3 1.3.1 on x86-64 (checked against native/blake3_layout_probe).</summary>
    internal const int StateSize = 1912;

    /// <summary><c>alignof(blake3_hasher)</c>: its widest member is the <c>uint64_t</c> chunk counter.</summary>
    internal const int StateAlignment = sizeof(ulong);

    private HasherState _state;

    public Blake3Hasher()
    {
        fixed (HasherState* state = &_state)
            HasherInit(state);
    }

    /// <summary>Starts over, as if just created.</summary>
    public void Reset()
    {
        fixed (HasherState* state = &_state)
            HasherInit(state);
    }

    public void Update(ReadOnlySpan<byte> data)
    {
        fixed (HasherState* state = &_state)
        fixed (byte* input = data)
            HasherUpdate(state, input, (nuint)data.Length);
    }

    /// <summary>The digest of everything given so far; the hasher is unchanged and may go on.</summary>
    public B3Digest Finish()
    {
        Span<byte> hash = stackalloc byte[B3Digest.Length];
        fixed (HasherState* state = &_state)
        fixed (byte* output = hash)
            HasherFinalize(state, output, B3Digest.Length);
        return B3Digest.FromBytes(hash);
    }

    /// <summary>BLAKE3-256 of <paramref name="data"/> in one go, with the hasher state on the stack (allocates nothing).</summary>
    [SkipLocalsInit] // blake3_hasher_init writes every field that is read later
    public static B3Digest Hash(ReadOnlySpan<byte> data)
    {
        HasherState state;
        Span<byte> hash = stackalloc byte[B3Digest.Length];
        fixed (byte* input = data)
        fixed (byte* output = hash)
        {
            HasherInit(&state);
            HasherUpdate(&state, input, (nuint)data.Length);
            HasherFinalize(&state, output, B3Digest.Length);
        }
        return B3Digest.FromBytes(hash);
    }

    /// <summary>The C library's version (<c>blake3_version()</c>), e.g. <c>1.3.1</c>.</summary>
    public static string Version => Marshal.PtrToStringUTF8((nint)BlakeVersion())!;

    /// <summary>An opaque <c>blake3_hasher</c>: ulong elements give it the C struct's size and 8-byte alignment.</summary>
    [InlineArray(StateSize / sizeof(ulong))]
    internal struct HasherState
    {
        private ulong _element;
    }

    /// <summary><c>const char *blake3_version(void)</c>: a static string.</summary>
    [LibraryImport(Library, EntryPoint = "blake3_version")]
    private static partial byte* BlakeVersion();

    /// <summary><c>void blake3_hasher_init(blake3_hasher *self)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "blake3_hasher_init")]
    private static partial void HasherInit(HasherState* self);

    /// <summary><c>void blake3_hasher_update(blake3_hasher *self, const void *input, size_t input_len)</c>; a zero length reads nothing.</summary>
    [LibraryImport(Library, EntryPoint = "blake3_hasher_update")]
    private static partial void HasherUpdate(HasherState* self, byte* input, nuint inputLength);

    /// <summary><c>void blake3_hasher_finalize(const blake3_hasher *self, uint8_t *out, size_t out_len)</c>.</summary>
    [LibraryImport(Library, EntryPoint = "blake3_hasher_finalize")]
    private static partial void HasherFinalize(HasherState* self, byte* output, nuint outputLength);
}
