/*
 * The DOTPROD level (ARMv8.2-A dot product, SDOT): the integer gemm
 * kernels of gemm_int8_arm.h with vdotq_s32. Built with
 * -march=armv8.2-a+dotprod (the Makefile's rule for *_dotprod.c) and
 * reached only through the table when getauxval reports HWCAP_ASIMDDP.
 * Float weights and the activation quantizers stay the NEON level's.
 */
#include <arm_neon.h>

#include "kernels/kernels.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels_dotprod.c needs -march=armv8.2-a+dotprod (or later)"
#endif

#define ARM_DOT16(acc, a, b) vdotq_s32(acc, a, b)
#include "kernels/arm/gemm_int8_arm.h"

ARM_INT8_GEMMS(dotprod)

void kernels_fill_dotprod(kernel_table *t) { ARM_SET_INT8_GEMMS(t, dotprod); }
