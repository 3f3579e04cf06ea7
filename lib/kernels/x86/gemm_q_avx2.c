/*
 * AVX2 gemm for the 32-element block types Q5_0 (q8_0 activations) and
 * Q5_1 (q8_1 activations); Q4_0, Q8_0 and Q4_1 have their own layout
 * (gemm_lane.h). The Q4_1 branches below are unused.
 *
 * A tile holds R x T <= 8 (row, token) pairs, one per f32 lane. For each
 * block, each pair's integer dot is one 256-bit maddubs over the 32 bytes
 * and a madd, the 8 int32 lanes of every pair are summed exactly into the
 * pair's lane (avx2_reduce_lanes), and then, per lane, as quant_dot.c:
 *     sum += (d_w * d_a) * (float)isum            (Q5_0)
 *     sum += (d_w * d_a) * (float)isum + m_w * s_a  (Q4_1, Q5_1)
 * with separate multiplies and adds, in block order: the scalar
 * reference's bits, in every tile shape.
 *
 * The offset of Q5_0 (q - 16) is taken off the int16 pair sums as
 * maddubs(16, a), once per token and block.
 */
#include "kernels/quant.h"
#include "kernels/x86/x86_avx2.h"

enum kind { Q5_0, Q4_1, Q5_1 };

/* Block b of a weight row at p: unpacked (wq) and its binary16 scale
 * (and min). */
AVX2_INLINE void unpack_row(const enum kind kind, const uint8_t *p, __m256i *wq, uint16_t *wd, uint16_t *wm) {
    __builtin_memcpy(wd, p, 2);
    if (kind == Q5_0) *wq = _mm256_or_si256(avx2_nibbles32(p + 6), avx2_bit16_32(p + 2));
    if (kind == Q4_1 || kind == Q5_1) {
        __builtin_memcpy(wm, p + 2, 2);
        *wq = kind == Q4_1 ? avx2_nibbles32(p + 4) : _mm256_or_si256(avx2_nibbles32(p + 8), avx2_bit16_32(p + 4));
    }
}

/* A block of an activation row at ap: its quantized values, the offset
 * correction of Q5_0, its binary16 scale (and sum). */
AVX2_INLINE void load_act(const enum kind kind, const uint8_t *ap, size_t abytes, __m256i *aq, __m256i *corr,
                          uint16_t *ad, uint16_t *as) {
    __builtin_memcpy(ad, ap, 2);
    if (kind == Q4_1 || kind == Q5_1) __builtin_memcpy(as, ap + 2, 2);
    *aq = _mm256_loadu_si256((const __m256i *)(ap + abytes - 32));
    *corr = _mm256_setzero_si256();
    if (kind == Q5_0) *corr = _mm256_maddubs_epi16(_mm256_set1_epi8(16), *aq);
}

/* The products of one pair's block, as int32 lanes. */
AVX2_INLINE __m256i pair_dot(const enum kind kind, __m256i wq, __m256i aq, __m256i corr) {
    __m256i p16 = _mm256_maddubs_epi16(wq, aq);
    if (kind == Q5_0) p16 = _mm256_sub_epi16(p16, corr);
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

AVX2_INLINE void tile_q32(const enum kind kind, const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb,
                          int64_t n_in, float *y, int64_t ys, const int cont, const int R, const int T) {
    const size_t wbytes = kind == Q5_0   ? sizeof(block_q5_0)
                          : kind == Q4_1 ? sizeof(block_q4_1)
                                         : sizeof(block_q5_1);
    const bool has_min = kind == Q4_1 || kind == Q5_1;
    const size_t abytes = has_min ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const int64_t nb = n_in / 32;
    __m256 acc = cont ? avx2_load_pairs(y, ys, R, T) : _mm256_setzero_ps();

    for (int64_t b = 0; b < nb; b++) {
        avx2_prefetch_next(w, (size_t)R * wrb, b, (size_t)R * wbytes);
        __m256i wq[AVX2_RMAX], dots[8];
        uint16_t wd[AVX2_RMAX], wm[AVX2_RMAX], ad[AVX2_TMAX], as[AVX2_TMAX];
        if (T == 1) {
            /* one token: each row's block is used as soon as it is unpacked */
            __m256i aq, corr;
            load_act(kind, a + (size_t)b * abytes, abytes, &aq, &corr, &ad[0], &as[0]);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                unpack_row(kind, w + (size_t)r * wrb + (size_t)b * wbytes, &wq[0], &wd[r], &wm[r]);
                dots[r] = pair_dot(kind, wq[0], aq, corr);
            }
        } else {
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                unpack_row(kind, w + (size_t)r * wrb + (size_t)b * wbytes, &wq[r], &wd[r], &wm[r]);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                __m256i aq, corr;
                load_act(kind, a + (size_t)t * arb + (size_t)b * abytes, abytes, &aq, &corr, &ad[t], &as[t]);
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) dots[r * T + t] = pair_dot(kind, wq[r], aq, corr);
            }
        }
        const __m256 isum = _mm256_cvtepi32_ps(avx2_reduce_lanes(dots, R * T));
        const __m256 d = _mm256_mul_ps(avx2_lanes_by_row_f16(wd, R, T), avx2_lanes_by_tok_f16(ad, R, T));
        __m256 term = _mm256_mul_ps(d, isum);
        if (has_min)
            term = _mm256_add_ps(term, _mm256_mul_ps(avx2_lanes_by_row_f16(wm, R, T), avx2_lanes_by_tok_f16(as, R, T)));
        acc = _mm256_add_ps(acc, term);
    }
    avx2_store_pairs(acc, y, ys, R, T);
}

#define BODY(kind)                                                                                         \
    AVX2_INLINE void tile_##kind(const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb, int64_t n_in, \
                                 float *y, int64_t ys, const int cont, const int R, const int T) {                         \
        tile_q32(kind, w, wrb, a, arb, n_in, y, ys, cont, R, T);                                                 \
    }
BODY(Q5_0)
BODY(Q5_1)

AVX2_TILES_PAIRS(q5_0, tile_Q5_0, QTYPE_Q5_0)
AVX2_TILES_PAIRS(q5_1, tile_Q5_1, QTYPE_Q5_1)

AVX2_GEMM(q5_0)
AVX2_GEMM(q5_1)
