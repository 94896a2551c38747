// Prints what src/TvixLowFs.Store/BinaryCache/Interop.Lzma.cs, Interop.Bzip2.cs and Interop.Zlib.cs must
// agree with: the size and field offsets of lzma_stream, bz_stream and z_stream (mirrored field for field, both held in
// native memory), the constants the decoders use, and the linked libraries' versions.
// Line format as in fuse_layout_probe: size <struct> <bytes>, field <struct>.<field> <offset> <size>,
// const <NAME> <value>, version <library> <text>.
#include <bzlib.h>
#include <lzma.h>
#include <stddef.h>
#include <stdio.h>
#include <zlib.h>

#define SIZE(T) printf("size %s %zu\n", #T, sizeof(T))
#define FIELD(T, F) printf("field %s.%s %zu %zu\n", #T, #F, offsetof(T, F), sizeof(((T *)0)->F))
#define CONST(N) printf("const %s %lld\n", #N, (long long)(N))

int main(void) {
    SIZE(lzma_stream);
    FIELD(lzma_stream, next_in);
    FIELD(lzma_stream, avail_in);
    FIELD(lzma_stream, total_in);
    FIELD(lzma_stream, next_out);
    FIELD(lzma_stream, avail_out);
    FIELD(lzma_stream, total_out);
    FIELD(lzma_stream, allocator);
    FIELD(lzma_stream, internal);
    FIELD(lzma_stream, reserved_ptr1);
    FIELD(lzma_stream, reserved_ptr2);
    FIELD(lzma_stream, reserved_ptr3);
    FIELD(lzma_stream, reserved_ptr4);
    FIELD(lzma_stream, seek_pos);
    FIELD(lzma_stream, reserved_int2);
    FIELD(lzma_stream, reserved_int3);
    FIELD(lzma_stream, reserved_int4);
    FIELD(lzma_stream, reserved_enum1);
    FIELD(lzma_stream, reserved_enum2);
    CONST(LZMA_CONCATENATED);
    CONST(LZMA_TELL_UNSUPPORTED_CHECK);
    CONST(LZMA_RUN);
    CONST(LZMA_FINISH);
    CONST(LZMA_OK);
    CONST(LZMA_STREAM_END);
    CONST(LZMA_UNSUPPORTED_CHECK);
    CONST(LZMA_MEM_ERROR);
    CONST(LZMA_MEMLIMIT_ERROR);
    CONST(LZMA_FORMAT_ERROR);
    CONST(LZMA_OPTIONS_ERROR);
    CONST(LZMA_DATA_ERROR);
    CONST(LZMA_BUF_ERROR);
    CONST(LZMA_PROG_ERROR);

    SIZE(bz_stream);
    FIELD(bz_stream, next_in);
    FIELD(bz_stream, avail_in);
    FIELD(bz_stream, total_in_lo32);
    FIELD(bz_stream, total_in_hi32);
    FIELD(bz_stream, next_out);
    FIELD(bz_stream, avail_out);
    FIELD(bz_stream, total_out_lo32);
    FIELD(bz_stream, total_out_hi32);
    FIELD(bz_stream, state);
    FIELD(bz_stream, bzalloc);
    FIELD(bz_stream, bzfree);
    FIELD(bz_stream, opaque);
    CONST(BZ_OK);
    CONST(BZ_STREAM_END);
    CONST(BZ_PARAM_ERROR);
    CONST(BZ_MEM_ERROR);
    CONST(BZ_DATA_ERROR);
    CONST(BZ_DATA_ERROR_MAGIC);
    CONST(BZ_CONFIG_ERROR);

    SIZE(z_stream);
    FIELD(z_stream, next_in);
    FIELD(z_stream, avail_in);
    FIELD(z_stream, total_in);
    FIELD(z_stream, next_out);
    FIELD(z_stream, avail_out);
    FIELD(z_stream, total_out);
    FIELD(z_stream, msg);
    FIELD(z_stream, state);
    FIELD(z_stream, zalloc);
    FIELD(z_stream, zfree);
    FIELD(z_stream, opaque);
    FIELD(z_stream, data_type);
    FIELD(z_stream, adler);
    FIELD(z_stream, reserved);
    CONST(Z_OK);
    CONST(Z_STREAM_END);
    CONST(Z_NEED_DICT);
    CONST(Z_STREAM_ERROR);
    CONST(Z_DATA_ERROR);
    CONST(Z_MEM_ERROR);
    CONST(Z_BUF_ERROR);
    CONST(Z_VERSION_ERROR);
    CONST(Z_NO_FLUSH);

    printf("version liblzma %s\n", lzma_version_string());
    printf("version libbz2 %s\n", BZ2_bzlibVersion());
    printf("version zlib %s\n", zlibVersion());
    return 0;
}
