/*
 * gemm_lane_avxvnni - the lane-layout gemm (gemm_lane.h) for Q4_0, Q4_1,
 * Q5_0, Q5_1, Q8_0, Q4_K and Q5_K with AVX-VNNI: one vpdpbusd (VEX,
 * 256-bit) per step and token where plain AVX2 needs maddubs and an add
 * (and a madd per group, Q8_0 a madd per step). The integer sums are the
 * same exact ones, so results are the plain AVX2 kernels' bits
 * (test_kernels_avx2 checks it).
 *
 * AVX-VNNI is a feature of its own (cpuid 7.1 EAX bit 4: Intel from Alder
 * Lake, AMD from Zen 5), not part of AVX2 or AVX-512: the AVX2 level uses
 * these kernels where the CPU has it (kernels.c; QWQ_AVXVNNI=0 turns them
 * off). Compiled with -mavxvnni when the compiler takes it (Makefile);
 * without it kernels_fill_avxvnni fills nothing.
 */
#include "kernels/kernels.h"

#if defined(__AVXVNNI__)
#define LANE_VNNI 1
#include "kernels/x86/gemm_lane.h"

static LANE_GEMM(avxvnni_gemm_q4_0, LANE_Q4_0)
static LANE_GEMM(avxvnni_gemm_q4_1, LANE_Q4_1)
static LANE_GEMM(avxvnni_gemm_q5_0, LANE_Q5_0)
static LANE_GEMM(avxvnni_gemm_q5_1, LANE_Q5_1)
static LANE_GEMM(avxvnni_gemm_q8_0, LANE_Q8_0)
static LANE_GEMM(avxvnni_gemm_q4_K, LANE_Q4_K)
static LANE_GEMM(avxvnni_gemm_q5_K, LANE_Q5_K)

bool kernels_fill_avxvnni(kernel_table *t) {
    t->gemm[QTYPE_Q4_0] = avxvnni_gemm_q4_0;
    t->gemm[QTYPE_Q4_1] = avxvnni_gemm_q4_1;
    t->gemm[QTYPE_Q5_0] = avxvnni_gemm_q5_0;
    t->gemm[QTYPE_Q5_1] = avxvnni_gemm_q5_1;
    t->gemm[QTYPE_Q8_0] = avxvnni_gemm_q8_0;
    t->gemm[QTYPE_Q4_K] = avxvnni_gemm_q4_K;
    t->gemm[QTYPE_Q5_K] = avxvnni_gemm_q5_K;
    return true;
}
#else
bool kernels_fill_avxvnni(kernel_table *t) {
    (void)t;
    return false;
}
#endif
