/*
 * kernels_avx2 - the AVX2 level (AVX2 + FMA + F16C, no AVX-512) of the
 * kernel table: the tile driver and the table. The kernels themselves are in
 * gemm_lane_avx2.c (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K;
 * gemm_lane_avxvnni.c has their AVX-VNNI form, which kernels.c puts in
 * where the CPU has it), gemm_k_avx2.c (Q2_K, Q3_K, Q6_K),
 * gemm_f_avx2.c (f32, f16, bf16) and quant_avx2.c (activation quantizers);
 * x86_avx2.h has their invariants. Compiled with -mavx2 -mfma -mf16c
 * (Makefile, by file name) and reached only through the dispatch table
 * after cpuid.
 */
#include "kernels/quant.h"
#include "kernels/x86/x86_avx2.h"

/* Cache blocking. Tokens go in groups whose activations (for the part of
 * the rows in work) stay in L2 while every block of AVX2_RMAX rows uses
 * them; the weights are read from memory once per group. Long rows are
 * split into parts (the tile set's `split` elements) so that a group can
 * hold many tokens (fewer passes over the weights): the tiles carry each
 * pair's running sum over in y. ACT_GROUP_BYTES is half the smallest L2 of
 * AVX2 CPUs (256 KiB). */
enum { ACT_GROUP_BYTES = 128 * 1024 };

void avx2_gemm_tiled(const avx2_tiles *k, const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb,
                     int64_t n_in, int64_t r0, int64_t r1, int32_t n_tok, float *y, int64_t ys) {
    const int T = k->tok;
    /* the parts of the rows: whole rows, or k->split elements (a multiple
     * of the block size) at a time when rows are long and tokens many */
    int64_t part = n_in;
    if (n_tok > T && n_in >= 2 * k->split) part = k->split;
    const qtype_info *wi = qtype_get(k->type), *ai = qtype_get(quant_act_type(k->type));
    const size_t w_part = (size_t)(part / wi->block_elems) * wi->block_bytes;
    const size_t a_part = (size_t)(part / ai->block_elems) * ai->block_bytes;
    const int64_t n_parts = part ? (n_in + part - 1) / part : 1;
    int64_t group = a_part ? (int64_t)(ACT_GROUP_BYTES / a_part) / T * T : n_tok;
    if (group < T) group = T;
    for (int64_t t0 = 0; t0 < n_tok; t0 += group) {
        const int64_t t_end = t0 + group < n_tok ? t0 + group : n_tok;
        for (int64_t p = 0; p < n_parts; p++) {
            const int64_t n = n_in - p * part < part ? n_in - p * part : part;
            const uint8_t *wp = w + (size_t)p * w_part, *ap = act + (size_t)p * a_part;
            for (int64_t rb = r0; rb < r1; rb += AVX2_RMAX) {
                const int64_t rb_end = rb + AVX2_RMAX < r1 ? rb + AVX2_RMAX : r1;
                for (int64_t t = t0; t < t_end; t += T) {
                    const int c = t_end - t < T ? (int)(t_end - t) : T;
                    const uint8_t *a = ap + (size_t)t * arb;
                    float *yt = y + t * ys;
                    int64_t r = rb;
                    for (; r + k->rows[c] <= rb_end; r += k->rows[c])
                        k->big[c](wp + (size_t)r * wrb, wrb, a, arb, n, yt + r, ys, p > 0);
                    for (; r < rb_end; r++) k->one[c](wp + (size_t)r * wrb, wrb, a, arb, n, yt + r, ys, p > 0);
                }
            }
        }
    }
}

void kernels_fill_avx2(kernel_table *t) {
    /* the table is already a copy of the scalar one; float activations
     * stay the scalar memcpy */
    t->attention = attn_avx2;
    t->attention_part = attn_part_avx2;
    t->attention_merge = attn_merge_avx2;
    t->swiglu = swiglu_avx2;
    t->gemm[QTYPE_F32] = avx2_gemm_f32;
    t->gemm[QTYPE_F16] = avx2_gemm_f16;
    t->gemm[QTYPE_BF16] = avx2_gemm_bf16;
    t->gemm[QTYPE_Q4_0] = avx2_gemm_q4_0;
    t->gemm[QTYPE_Q4_1] = avx2_gemm_q4_1;
    t->gemm[QTYPE_Q5_0] = avx2_gemm_q5_0;
    t->gemm[QTYPE_Q5_1] = avx2_gemm_q5_1;
    t->gemm[QTYPE_Q8_0] = avx2_gemm_q8_0;
    t->gemm[QTYPE_Q2_K] = avx2_gemm_q2_K;
    t->gemm[QTYPE_Q3_K] = avx2_gemm_q3_K;
    t->gemm[QTYPE_Q4_K] = avx2_gemm_q4_K;
    t->gemm[QTYPE_Q5_K] = avx2_gemm_q5_K;
    t->gemm[QTYPE_Q6_K] = avx2_gemm_q6_K;
    t->quantize[QTYPE_Q4_0] = avx2_quantize_q8_0;
    t->quantize[QTYPE_Q5_0] = avx2_quantize_q8_0;
    t->quantize[QTYPE_Q8_0] = avx2_quantize_q8_0;
    t->quantize[QTYPE_Q4_1] = avx2_quantize_q8_1;
    t->quantize[QTYPE_Q5_1] = avx2_quantize_q8_1;
    t->quantize[QTYPE_Q2_K] = avx2_quantize_q8_K;
    t->quantize[QTYPE_Q3_K] = avx2_quantize_q8_K;
    t->quantize[QTYPE_Q4_K] = avx2_quantize_q8_K;
    t->quantize[QTYPE_Q5_K] = avx2_quantize_q8_K;
    t->quantize[QTYPE_Q6_K] = avx2_quantize_q8_K;
}
