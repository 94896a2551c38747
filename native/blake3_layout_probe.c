// Prints what src/TvixLowFs.Store.Model/Blake3Hasher.cs must agree with: the size and alignment of
// blake3_hasher (held opaquely in managed memory), the output length, and the library's version
// (from the header and from the linked code).
#include <stdalign.h>
#include <stdio.h>
#include <string.h>
#include "blake3.h"

int main(void) {
    printf("size blake3_hasher %zu\n", sizeof(blake3_hasher));
    printf("align blake3_hasher %zu\n", alignof(blake3_hasher));
    printf("const BLAKE3_OUT_LEN %d\n", BLAKE3_OUT_LEN);
    printf("version %s\n", BLAKE3_VERSION_STRING);
    // The header and the code it is linked with come from the same unpacked package.
    return strcmp(BLAKE3_VERSION_STRING, blake3_version()) == 0 ? 0 : 1;
}
