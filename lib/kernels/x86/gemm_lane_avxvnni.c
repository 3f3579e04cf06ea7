/*
 * gemm_lane_avxvnni - the lane-layout gemm (gemm_lane.h) for Q4_0, Q8_0,
 * Q4_K and Q5_K with AVX-VNNI: one vpdpbusd (VEX, 256-bit) per step and token
 * where plain AVX2 needs maddubs and an add (and a madd per group, Q8_0 a
 * madd per step). The integer sums are the same exact ones, so results
 * are the plain AVX2 kernels' bits (test_kernels_avx2 checks it).
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

static void avxvnni_gemm_q4_0(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                              int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q4_0, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

static void avxvnni_gemm_q8_0(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                              int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q8_0, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

static void avxvnni_gemm_q4_K(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                              int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q4_K, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

static void avxvnni_gemm_q5_K(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                              int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q5_K, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

static void avxvnni_gemm_q4_1(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                              int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q4_1, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

static void avxvnni_gemm_q5_0(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                              int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q5_0, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

static void avxvnni_gemm_q5_1(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                              int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q5_1, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

bool kernels_fill_avxvnni(kernel_table *t) {
    t->gemm[QTYPE_Q5_0] = avxvnni_gemm_q5_0;
    t->gemm[QTYPE_Q5_1] = avxvnni_gemm_q5_1;
    t->gemm[QTYPE_Q4_1] = avxvnni_gemm_q4_1;
    t->gemm[QTYPE_Q5_K] = avxvnni_gemm_q5_K;
    t->gemm[QTYPE_Q4_0] = avxvnni_gemm_q4_0;
    t->gemm[QTYPE_Q8_0] = avxvnni_gemm_q8_0;
    t->gemm[QTYPE_Q4_K] = avxvnni_gemm_q4_K;
    return true;
}
#else
static void avxvnni_gemm_q4_1(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                              int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q4_1, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

static void avxvnni_gemm_q5_0(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                              int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q5_0, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

static void avxvnni_gemm_q5_1(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                              int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q5_1, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

bool kernels_fill_avxvnni(kernel_table *t) {
    t->gemm[QTYPE_Q5_0] = avxvnni_gemm_q5_0;
    t->gemm[QTYPE_Q5_1] = avxvnni_gemm_q5_1;
    t->gemm[QTYPE_Q4_1] = avxvnni_gemm_q4_1;
    (void)t;
    return false;
}
#endif
