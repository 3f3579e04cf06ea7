/*
 * AVX2 gemm for float weights (f32, f16 by F16C, bf16 by a shift) with f32
 * activations.
 *
 * A (row, token) pair accumulates w * a with FMA in 8 f32 lanes over chunks
 * of CHUNK elements; at the end of a chunk the two halves are added in f32
 * and the 4 sums added to 4 f64 lanes, so the f32 error stays that of
 * CHUNK / 8 terms (the scalar reference sums in f64). The last n % 8
 * elements go through a zero-padded vector the same way. At the end of
 * each part of AVX2_FLOAT_PART elements the f64 lanes are summed in a fixed
 * order and added to the pair's running f32 sum, which is the result after
 * the last part: the driver may split rows at part boundaries, carrying the
 * running sum in y, and gets the same bits. All boundaries are fixed by the
 * element index.
 */
#include "kernels/quant.h"
#include "kernels/x86/x86_avx2.h"

enum fkind { F32, F16, BF16 };
enum { CHUNK = 256 };

AVX2_INLINE __m256 load_w8(const enum fkind kind, const uint8_t *row, int64_t i) {
    if (kind == F32) return _mm256_loadu_ps((const float *)row + i);
    const __m128i h = _mm_loadu_si128((const __m128i *)(row + 2 * i));
    if (kind == F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* The last m < 8 elements from i, zero-padded. */
AVX2_INLINE __m256 load_w_tail(const enum fkind kind, const uint8_t *row, int64_t i, int m) {
    float v[8] = {0};
    for (int j = 0; j < m; j++) {
        if (kind == F32) {
            __builtin_memcpy(&v[j], row + 4 * (i + j), 4);
        } else {
            uint16_t h;
            __builtin_memcpy(&h, row + 2 * (i + j), 2);
            if (kind == F16) v[j] = _cvtsh_ss(h);
            else {
                const uint32_t u = (uint32_t)h << 16;
                __builtin_memcpy(&v[j], &u, 4);
            }
        }
    }
    return _mm256_loadu_ps(v);
}

AVX2_INLINE __m256 load_a_tail(const float *a, int64_t i, int m) {
    float v[8] = {0};
    for (int j = 0; j < m; j++) v[j] = a[i + j];
    return _mm256_loadu_ps(v);
}

AVX2_INLINE __m256d flush(__m256d d, __m256 f) {
    return _mm256_add_pd(d, _mm256_cvtps_pd(_mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1))));
}

AVX2_INLINE double hsum_d(__m256d d) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

AVX2_INLINE void tile_float(const enum fkind kind, const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb,
                            int64_t n, float *y, int64_t ys, const int cont, const int R, const int T) {
    const size_t esize = kind == F32 ? 4 : 2;
    float run[AVX2_RMAX][AVX2_TMAX];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) run[r][t] = cont ? y[t * ys + r] : 0.0f;
    const int64_t n8 = n / 8 * 8;
    /* parts of AVX2_FLOAT_PART elements (w and a start a part) */
    for (int64_t p0 = 0; p0 < n; p0 += AVX2_FLOAT_PART) {
        const int64_t p1 = n - p0 < AVX2_FLOAT_PART ? n : p0 + AVX2_FLOAT_PART;
        const int64_t p8 = p1 < n8 ? p1 : n8;
        __m256d accd[AVX2_RMAX][AVX2_TMAX];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) accd[r][t] = _mm256_setzero_pd();
        for (int64_t i = p0; i < p8;) {
            const int64_t end = p8 - i < CHUNK ? p8 : i + CHUNK;
            __m256 acc[AVX2_RMAX][AVX2_TMAX];
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
#pragma GCC unroll 8
                for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
            for (; i < end; i += 8) {
                /* the next tile's rows, as for the quantized types (x86_avx2.h);
                 * f32 rows are long enough for the hardware prefetcher */
                if (kind != F32 && i % 32 == 0) avx2_prefetch_next(w, (size_t)R * wrb, i / 32, (size_t)R * 32 * esize);
                __m256 wv[AVX2_RMAX];
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) wv[r] = load_w8(kind, w + (size_t)r * wrb, i);
#pragma GCC unroll 8
                for (int t = 0; t < T; t++) {
                    const __m256 av = _mm256_loadu_ps((const float *)(a + (size_t)t * arb) + i);
#pragma GCC unroll 8
                    for (int r = 0; r < R; r++) acc[r][t] = _mm256_fmadd_ps(wv[r], av, acc[r][t]);
                }
            }
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
#pragma GCC unroll 8
                for (int t = 0; t < T; t++) accd[r][t] = flush(accd[r][t], acc[r][t]);
        }
        if (p1 == n && n8 < n) {
            const int m = (int)(n - n8);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const __m256 wv = load_w_tail(kind, w + (size_t)r * wrb, n8, m);
#pragma GCC unroll 8
                for (int t = 0; t < T; t++) {
                    const __m256 av = load_a_tail((const float *)(a + (size_t)t * arb), n8, m);
                    accd[r][t] = flush(accd[r][t], _mm256_fmadd_ps(wv, av, _mm256_setzero_ps()));
                }
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) run[r][t] = (float)((double)run[r][t] + hsum_d(accd[r][t]));
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) y[t * ys + r] = run[r][t];
}

AVX2_INLINE void tile_f32(const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb, int64_t n, float *y,
                          int64_t ys, const int cont, const int R, const int T) {
    tile_float(F32, w, wrb, a, arb, n, y, ys, cont, R, T);
}
AVX2_INLINE void tile_f16(const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb, int64_t n, float *y,
                          int64_t ys, const int cont, const int R, const int T) {
    tile_float(F16, w, wrb, a, arb, n, y, ys, cont, R, T);
}
AVX2_INLINE void tile_bf16(const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb, int64_t n, float *y,
                           int64_t ys, const int cont, const int R, const int T) {
    tile_float(BF16, w, wrb, a, arb, n, y, ys, cont, R, T);
}

/* 4 rows x 1..3 tokens (12 f32 accumulators at most) and 1-row tiles */
#define TILES_F(nm, body, qtype)                                                                                    \
    AVX2_TILE(nm, body, 4, 1)                                                                                \
    AVX2_TILE(nm, body, 4, 2)                                                                                \
    AVX2_TILE(nm, body, 4, 3)                                                                                \
    AVX2_TILE(nm, body, 1, 1)                                                                                \
    AVX2_TILE(nm, body, 1, 2)                                                                                \
    AVX2_TILE(nm, body, 1, 3)                                                                                \
    static const avx2_tiles nm##_tiles = {                                                                   \
        qtype, AVX2_FLOAT_PART, 3, {0, 4, 4, 4}, {NULL, nm##_4x1, nm##_4x2, nm##_4x3}, {NULL, nm##_1x1, nm##_1x2, nm##_1x3}};
TILES_F(f32, tile_f32, QTYPE_F32)
TILES_F(f16, tile_f16, QTYPE_F16)
TILES_F(bf16, tile_bf16, QTYPE_BF16)

AVX2_GEMM(f32)
AVX2_GEMM(f16)
AVX2_GEMM(bf16)
