/*
 * gemm_lane_avx2 - the lane-layout gemm (gemm_lane.h) for Q4_0, Q4_1,
 * Q5_0, Q5_1, Q8_0, Q4_K and Q5_K at the plain AVX2 level: maddubs and
 * madd build each lane's sums. gemm_lane_avxvnni.c compiles the same code
 * with vpdpbusd.
 */
#define LANE_VNNI 0
#include "kernels/x86/gemm_lane.h"

LANE_GEMM(avx2_gemm_q4_0, LANE_Q4_0)
LANE_GEMM(avx2_gemm_q4_1, LANE_Q4_1)
LANE_GEMM(avx2_gemm_q5_0, LANE_Q5_0)
LANE_GEMM(avx2_gemm_q5_1, LANE_Q5_1)
LANE_GEMM(avx2_gemm_q8_0, LANE_Q8_0)
LANE_GEMM(avx2_gemm_q4_K, LANE_Q4_K)
LANE_GEMM(avx2_gemm_q5_K, LANE_Q5_K)
