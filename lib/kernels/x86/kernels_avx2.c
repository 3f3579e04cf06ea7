/*
 * kernels_avx2 - the AVX2 level (AVX2 + FMA + F16C, no AVX-512) of the
 * kernel table. Compiled with -mavx2 -mfma -mf16c (Makefile, by file name)
 * and reached only through the dispatch table after cpuid.
 */
#include "kernels/kernels.h"

void kernels_fill_avx2(kernel_table *t) {
    /* the table is already a copy of the scalar one */
    (void)t;
}
