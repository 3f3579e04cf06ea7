/*
 * gemm_lane_avx2 - the lane-layout gemm (gemm_lane.h) for Q4_0, Q8_0, Q4_K
 * and Q5_K at the plain AVX2 level: maddubs and madd build each lane's sums.
 * gemm_lane_avxvnni.c compiles the same code with vpdpbusd.
 */
#define LANE_VNNI 0
#include "kernels/x86/gemm_lane.h"

void avx2_gemm_q4_0(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                    int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q4_0, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

void avx2_gemm_q8_0(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                    int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q8_0, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

void avx2_gemm_q4_K(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                    int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q4_K, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

void avx2_gemm_q5_K(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                    int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q5_K, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

void avx2_gemm_q4_1(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                    int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q4_1, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

void avx2_gemm_q5_0(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                    int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q5_0, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}

void avx2_gemm_q5_1(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,
                    int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    lane_gemm(LANE_Q5_1, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);
}
