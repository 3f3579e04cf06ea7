/*
 * AVX2 gemm for the K types Q2_K, Q3_K and Q6_K (super-blocks of 256 with
 * q8_K activations; Q4_K and Q5_K are in gemm_lane.h).
 *
 * Weights are unpacked to unsigned bytes (Q2_K 0..3, Q3_K 0..7 = q + 4,
 * Q6_K 0..63 = q + 32) and multiplied with maddubs; madd applies the
 * sub-block scale to the int16 pair sums. The offsets (Q3_K's 4, Q6_K's
 * 32) and Q2_K's mins come from the activation's bsums. A tile holds
 * R x T <= 8 (row, token) pairs, one per f32 lane: a super-block's integer
 * sums of each pair are summed exactly into its lane (avx2_reduce_lanes),
 * then per lane, as quant_dot.c,
 *     sum += d * (float)isum - dmin * (float)isum_min  (Q2_K; d = d_w * d_a, ...)
 *     sum += (d_w * d_a) * (float)isum                  (Q3_K, Q6_K)
 * with separate multiplies and adds, in super-block order: the scalar
 * reference's bits in every tile shape. A tile unpacks a row's sub-block
 * once for its T tokens.
 */
#include "kernels/quant.h"
#include "kernels/x86/x86_avx2.h"

/* The 16 per-sub-block scales (signed bytes) as int16: *lo holds scales
 * 0..7 in both 128-bit lanes, *hi scales 8..15. */
AVX2_INLINE void scales16(__m128i s, __m256i *lo, __m256i *hi) {
    *lo = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(s));
    *hi = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(s, 8)));
}

/* int16 x 16 = [scale i x 8, scale i + 1 x 8] (i even) from scales16. */
AVX2_INLINE __m256i scale_pair(__m256i lo, __m256i hi, int i) {
    const int w = i % 8;
    const short a = (short)((2 * w + 1) << 8 | 2 * w), b = (short)((2 * w + 3) << 8 | (2 * w + 2));
    return _mm256_shuffle_epi8(i < 8 ? lo : hi, _mm256_setr_epi16(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b));
}

/* int16 word i of both 128-bit lanes broadcast to all 16 */
AVX2_INLINE __m256i bcast_word(__m256i v, int i) {
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)((2 * i + 1) << 8 | 2 * i)));
}

AVX2_INLINE const block_q8_K *act_block(const uint8_t *a, size_t arb, int t, int64_t b) {
    return (const block_q8_K *)(a + (size_t)t * arb) + b;
}

/* ---- Q6_K ------------------------------------------------------------------------- */

AVX2_INLINE void tile_q6_K(const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb, int64_t n_in, float *y,
                           int64_t ys, const int cont, const int R, const int T) {
    const int64_t nb = n_in / QK_K;
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    __m256 acc = cont ? avx2_load_pairs(y, ys, R, T) : _mm256_setzero_ps();

    for (int64_t b = 0; b < nb; b++) {
        avx2_prefetch_next(w, (size_t)R * wrb, b, (size_t)R * (sizeof(block_q6_K)));
        __m256i dots[8];
        float dw[AVX2_RMAX], da[AVX2_TMAX];
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) da[t] = act_block(a, arb, t, b)->d;
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const block_q6_K *x = (const block_q6_K *)(w + (size_t)r * wrb) + b;
            dw[r] = avx2_f16(x->d);
            const __m128i sc = _mm_loadu_si128((const __m128i *)x->scales);
            const __m256i scw = _mm256_cvtepi8_epi16(sc);
            __m256i sc_lo, sc_hi;
            scales16(sc, &sc_lo, &sc_hi);
            __m256i isum[AVX2_TMAX];
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                /* the -32 offset: 32 * sum_i s_i * bsums_i */
                const __m256i corr =
                    _mm256_madd_epi16(scw, _mm256_loadu_si256((const __m256i *)act_block(a, arb, t, b)->bsums));
                isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 5));
            }
#pragma GCC unroll 2
            for (int n = 0; n < 2; n++) {
                const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * n));
                const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * n + 32));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * n));
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++) {
                    const __m256i lq = k == 0   ? _mm256_and_si256(ql0, m4)
                                       : k == 1 ? _mm256_and_si256(ql1, m4)
                                       : k == 2 ? _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4)
                                                : _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4);
                    const __m256i hq = k == 0   ? _mm256_slli_epi16(qh, 4)
                                       : k == 1 ? _mm256_slli_epi16(qh, 2)
                                       : k == 2 ? qh
                                                : _mm256_srli_epi16(qh, 2);
                    const __m256i q = _mm256_or_si256(lq, _mm256_and_si256(hq, m30));
                    const __m256i s = scale_pair(sc_lo, sc_hi, 8 * n + 2 * k);
#pragma GCC unroll 8
                    for (int t = 0; t < T; t++) {
                        const int8_t *aq = act_block(a, arb, t, b)->qs + 128 * n + 32 * k;
                        const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)aq));
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, s));
                        AVX2_PIN(isum[t]);
                    }
                }
            }
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                AVX2_PIN(isum[t]);
                dots[r * T + t] = isum[t];
            }
        }
        const __m256 isv = _mm256_cvtepi32_ps(avx2_reduce_lanes(dots, R * T));
        const __m256 d = _mm256_mul_ps(avx2_lanes_by_row(dw, R, T), avx2_lanes_by_tok(da, R, T));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(d, isv));
    }
    avx2_store_pairs(acc, y, ys, R, T);
}

/* ---- Q2_K / Q3_K ------------------------------------------------------------------- */

/* The 16 signed 6-bit scales of a Q3_K block as bytes. */
AVX2_INLINE __m128i k3_scales(const uint8_t packed[12]) {
    uint32_t u[3];
    __builtin_memcpy(u, packed, 12);
    const uint32_t s0 = (u[0] & 0x0f0f0f0fu) | (u[2] & 0x03030303u) << 4;
    const uint32_t s1 = (u[1] & 0x0f0f0f0fu) | ((u[2] >> 2) & 0x03030303u) << 4;
    const uint32_t s2 = ((u[0] >> 4) & 0x0f0f0f0fu) | ((u[2] >> 4) & 0x03030303u) << 4;
    const uint32_t s3 = ((u[1] >> 4) & 0x0f0f0f0fu) | ((u[2] >> 6) & 0x03030303u) << 4;
    return _mm_sub_epi8(_mm_set_epi32((int)s3, (int)s2, (int)s1, (int)s0), _mm_set1_epi8(32));
}

AVX2_INLINE void tile_k23(const bool three, const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb,
                          int64_t n_in, float *y, int64_t ys, const int cont, const int R, const int T) {
    const int64_t nb = n_in / QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = cont ? avx2_load_pairs(y, ys, R, T) : _mm256_setzero_ps();

    for (int64_t b = 0; b < nb; b++) {
        avx2_prefetch_next(w, (size_t)R * wrb, b, (size_t)R * (three ? sizeof(block_q3_K) : sizeof(block_q2_K)));
        __m256i dots[8];
        float dw[AVX2_RMAX], dmw[AVX2_RMAX], da[AVX2_TMAX];
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) da[t] = act_block(a, arb, t, b)->d;
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const block_q2_K *x2 = (const block_q2_K *)(w + (size_t)r * wrb) + b;
            const block_q3_K *x3 = (const block_q3_K *)(w + (size_t)r * wrb) + b;
            const uint8_t *qs = three ? x3->qs : x2->qs;
            __m128i sc; /* per 16-element sub-block: Q2_K 0..15, Q3_K -32..31 */
            __m256i hm = _mm256_setzero_si256();
            __m256i isum[AVX2_TMAX];
            if (three) {
                dw[r] = avx2_f16(x3->d);
                sc = k3_scales(x3->scales);
                hm = _mm256_loadu_si256((const __m256i *)x3->hmask);
                /* the -4 offset: 4 * sum_i s_i * bsums_i */
                const __m256i sw = _mm256_cvtepi8_epi16(sc);
#pragma GCC unroll 8
                for (int t = 0; t < T; t++) {
                    const __m256i corr =
                        _mm256_madd_epi16(sw, _mm256_loadu_si256((const __m256i *)act_block(a, arb, t, b)->bsums));
                    isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 2));
                }
            } else {
                dw[r] = avx2_f16(x2->d);
                dmw[r] = avx2_f16(x2->dmin);
                const __m128i raw = _mm_loadu_si128((const __m128i *)x2->scales);
                sc = _mm_and_si128(raw, _mm_set1_epi8(15));
#pragma GCC unroll 8
                for (int t = 0; t < T; t++) isum[t] = _mm256_setzero_si256();
            }
            __m256i sc_lo, sc_hi;
            scales16(sc, &sc_lo, &sc_hi);
#pragma GCC unroll 2
            for (int n = 0; n < 2; n++) {
                const __m256i q2 = _mm256_loadu_si256((const __m256i *)(qs + 32 * n));
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    __m256i q = _mm256_and_si256(j ? _mm256_srli_epi16(q2, 2 * j) : q2, m3);
                    if (three) {
                        /* bit 4n + j of hmask set: + 4 */
                        const int bit = 4 * n + j;
                        const __m256i h = _mm256_and_si256(hm, _mm256_set1_epi8((char)(1 << bit)));
                        q = _mm256_or_si256(q, bit >= 2 ? _mm256_srli_epi16(h, bit - 2) : _mm256_slli_epi16(h, 2 - bit));
                    }
                    const __m256i s = scale_pair(sc_lo, sc_hi, 8 * n + 2 * j);
#pragma GCC unroll 8
                    for (int t = 0; t < T; t++) {
                        const int8_t *aq = act_block(a, arb, t, b)->qs + 128 * n + 32 * j;
                        const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)aq));
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, s));
                        AVX2_PIN(isum[t]);
                    }
                }
            }
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                AVX2_PIN(isum[t]);
                dots[r * T + t] = isum[t];
            }
        }
        const __m256 isv = _mm256_cvtepi32_ps(avx2_reduce_lanes(dots, R * T));
        const __m256 dav = avx2_lanes_by_tok(da, R, T);
        if (three) {
            const __m256 d = _mm256_mul_ps(avx2_lanes_by_row(dw, R, T), dav);
            acc = _mm256_add_ps(acc, _mm256_mul_ps(d, isv));
        } else {
            /* the mins: sum_i m_i * bsums_i */
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const __m128i raw = _mm_loadu_si128((const __m128i *)((const block_q2_K *)(w + (size_t)r * wrb) + b)->scales);
                const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(15)));
#pragma GCC unroll 8
                for (int t = 0; t < T; t++)
                    dots[r * T + t] =
                        _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)act_block(a, arb, t, b)->bsums));
            }
            const __m256 mins = _mm256_cvtepi32_ps(avx2_reduce_lanes(dots, R * T));
            const __m256 d = _mm256_mul_ps(avx2_lanes_by_row(dw, R, T), dav);
            const __m256 dmin = _mm256_mul_ps(avx2_lanes_by_row(dmw, R, T), dav);
            acc = _mm256_add_ps(acc, _mm256_sub_ps(_mm256_mul_ps(d, isv), _mm256_mul_ps(dmin, mins)));
        }
    }
    avx2_store_pairs(acc, y, ys, R, T);
}

AVX2_INLINE void tile_q2_K(const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb, int64_t n_in, float *y,
                           int64_t ys, const int cont, const int R, const int T) {
    tile_k23(false, w, wrb, a, arb, n_in, y, ys, cont, R, T);
}
AVX2_INLINE void tile_q3_K(const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb, int64_t n_in, float *y,
                           int64_t ys, const int cont, const int R, const int T) {
    tile_k23(true, w, wrb, a, arb, n_in, y, ys, cont, R, T);
}

AVX2_TILES_PAIRS(q2_K, tile_q2_K, QTYPE_Q2_K)
AVX2_TILES_PAIRS(q3_K, tile_q3_K, QTYPE_Q3_K)
AVX2_TILES_PAIRS(q6_K, tile_q6_K, QTYPE_Q6_K)

AVX2_GEMM(q2_K)
AVX2_GEMM(q3_K)
AVX2_GEMM(q6_K)
