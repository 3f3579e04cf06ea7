/*
 * AVX2 activation quantizers: the bytes of quant.c's scalar ones, faster.
 *
 * Equal bytes come from equal arithmetic: amax is a maximum (exact in any
 * order; max_ps(|x|, m) keeps m when x is NaN, as the scalar `v > amax`
 * skips NaN), the scale is computed by the same scalar expressions, x * id
 * and scale * x are single IEEE products, and the roundings are rebuilt
 * exactly: half away from zero as trunc(p) + (|p - trunc(p)| >= 0.5 ?
 * sign(p) : 0) (p - trunc(p) is exact), half to even by the current
 * rounding mode (rintf's). The clamp maps NaN to 0 and saturates at +-127.
 */
#include <string.h>

#include "kernels/quant.h"
#include "kernels/x86/x86_avx2.h"

/* |v| */
AVX2_INLINE __m256 absf(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

/* NaN -> 0, then clamp to [-127, 127], as clamp_i8 in quant.c. */
AVX2_INLINE __m256i clamp_to_i32(__m256 r) {
    r = _mm256_and_ps(r, _mm256_cmp_ps(r, r, _CMP_ORD_Q));
    r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(r); /* exact: r holds an integer */
}

/* roundf: to nearest, ties away from zero. */
AVX2_INLINE __m256 round_away(__m256 p) {
    const __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_sub_ps(p, t);
    const __m256 ge_half = _mm256_cmp_ps(absf(frac), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_and_ps(p, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(ge_half, one));
}

/* rintf in the current rounding mode (nearest even by default). */
AVX2_INLINE __m256 round_even(__m256 p) { return _mm256_round_ps(p, _MM_FROUND_CUR_DIRECTION); }

/* 4 x 8 int32 in [-127, 127] -> 32 int8 in element order. */
AVX2_INLINE __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i v = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* max |x| over 32 values at x, NaN skipped */
AVX2_INLINE float amax32(const __m256 v[4]) {
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) m = _mm256_max_ps(absf(v[i]), m);
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One block of 32 with q8_0's semantics: the quantized values to qs, the
 * f32 scale d to *d_out; returns the sum of the quantized values. */
AVX2_INLINE int quant32_away(const float *x, float *d_out, int8_t *qs) {
    __m256 v[4];
    for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
    const float amax = amax32(v);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d_out = d;
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; i++) q[i] = clamp_to_i32(round_away(_mm256_mul_ps(v[i], idv)));
    _mm256_storeu_si256((__m256i *)qs, pack32(q[0], q[1], q[2], q[3]));
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 1));
    return _mm_cvtsi128_si32(s4);
}

void avx2_quantize_q8_0(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        float d;
        (void)quant32_away(x + b * QK8_0, &d, y[b].qs);
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    }
}

void avx2_quantize_q8_1(const float *x, void *dst, int64_t n) {
    block_q8_1 *y = dst;
    for (int64_t b = 0; b < n / QK8_1; b++) {
        float d;
        const int sum = quant32_away(x + b * QK8_1, &d, y[b].qs);
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        /* s from the unrounded f32 d, as the scalar */
        y[b].s = _cvtss_sh((float)sum * d, _MM_FROUND_TO_NEAREST_INT);
    }
}

void avx2_quantize_q8_K(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < QK_K / 8; i++) m = _mm256_max_ps(absf(_mm256_loadu_ps(x + 8 * i)), m);
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        s = _mm_max_ss(s, _mm_movehdup_ps(s));
        const float amax = _mm_cvtss_f32(s);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        /* the first element of magnitude amax (the scalar keeps the first) */
        const __m256 am = _mm256_set1_ps(amax);
        float max = 0.0f;
        for (int i = 0; i < QK_K / 8; i++) {
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(absf(_mm256_loadu_ps(x + 8 * i)), am, _CMP_EQ_OQ));
            if (hit) {
                max = x[8 * i + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        const float scale = -127.0f / max;
        const __m256 sv = _mm256_set1_ps(scale);
        int32_t sums[QK_K / 8];
        for (int c = 0; c < QK_K / 32; c++) {
            __m256i q[4];
            for (int i = 0; i < 4; i++)
                q[i] = clamp_to_i32(round_even(_mm256_mul_ps(sv, _mm256_loadu_ps(x + 32 * c + 8 * i))));
            _mm256_storeu_si256((__m256i *)(y[b].qs + 32 * c), pack32(q[0], q[1], q[2], q[3]));
            for (int i = 0; i < 4; i++) {
                __m128i h = _mm_add_epi32(_mm256_castsi256_si128(q[i]), _mm256_extracti128_si256(q[i], 1));
                h = _mm_add_epi32(h, _mm_unpackhi_epi64(h, h));
                h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 1));
                sums[4 * c + i] = _mm_cvtsi128_si32(h);
            }
        }
        for (int i = 0; i < QK_K / 16; i++) y[b].bsums[i] = (int16_t)(sums[2 * i] + sums[2 * i + 1]);
        y[b].d = 1.0f / scale;
    }
}
