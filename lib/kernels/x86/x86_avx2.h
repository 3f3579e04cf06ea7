/*
 * x86_avx2 - shared pieces of the AVX2 level (AVX2 + FMA + F16C): helpers,
 * the tile driver and the per-type kernels that kernels_avx2.c puts into
 * the table. Include only from files compiled with the AVX2 flags (names
 * ending in _avx2.c or _avx512.c).
 *
 * Invariants
 *  - A gemm is a driver (avx2_gemm_tiled) over tiles: a tile computes y for
 *    R consecutive weight rows and T consecutive tokens over a run of
 *    blocks. A result never depends on r0, r1, n_tok, the thread count or
 *    on which tile computed it:
 *      Q2_K, Q3_K, Q6_K: a tile keeps one (row, token) pair per f32
 *      lane (R * T <= 8). Each block's integer dot of a pair is summed exactly
 *      into its lane and scaled and added with quant_dot.c's f32
 *      operations in quant_dot.c's order, so every pair gets the scalar
 *      reference's bits. Long rows may be split into parts, the running
 *      sum carried over in y (exact).
 *      float types: every tile shape runs the same f32/f64 operations per
 *      pair (f32 FMA over fixed 256-element chunks into f64 lanes, a fixed
 *      final sum); they differ from the scalar's f64 sum by rounding only.
 *    The other quantized types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K)
 *    are not tiled this way: gemm_lane.h keeps
 *    one block (K types: sub-block) per lane and sums in 4096-element chunks
 *    (its own invariants there), which differs from the scalar's order by
 *    rounding only and likewise never depends on the split or the
 *    batching. It is compiled twice, for plain AVX2 (gemm_lane_avx2.c)
 *    and with AVX-VNNI (gemm_lane_avxvnni.c, used where the CPU has it):
 *    the same bits.
 *  - Integer dot products use maddubs (u8 x s8 -> s16 pairs) and madd.
 *    maddubs saturates at +-32767: its unsigned operand is at most 63 for
 *    the K types and 4/5-bit types, and |w| <= 128 (sign moved onto the
 *    activation) for q8_0; activations are in [-127, 127] (quant.h), so no
 *    pair sum exceeds 2 * 128 * 127 = 32512. Integer sums are exact: the
 *    bounds of quant_dot.c hold for any order of summation.
 *  - Quantizers give the scalar reference's bytes exactly (same amax, same
 *    scale arithmetic, same rounding; NaN and inf inputs included).
 *  - No state, no allocation: tables and constants are static const.
 */
#ifndef QWQ_X86_AVX2_H
#define QWQ_X86_AVX2_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

#if defined(__GNUC__)
#define AVX2_INLINE static inline __attribute__((always_inline))
#else
#define AVX2_INLINE static inline
#endif

/* ---- helpers ------------------------------------------------------------------ */

/* Makes v "used" here: stops gcc from moving the computation of v down to
 * its only use (its expansion of single-use temporaries would otherwise
 * delay a row's adds to the final reduction and spill every product). */
#if defined(__GNUC__)
#define AVX2_PIN(v) __asm__("" : "+x"(v))
#else
#define AVX2_PIN(v) ((void)0)
#endif

/* Sum of the 8 lanes in a fixed order (every kernel uses this one). */
AVX2_INLINE float avx2_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* binary16 -> f32 (exact) */
AVX2_INLINE float avx2_f16(uint16_t h) { return _cvtsh_ss(h); }

/* Lane i of the result = the sum of the 8 int32 lanes of v[i], for i < n
 * (n <= 8, a constant); lanes from n on are 0. Exact (no overflow). */
AVX2_INLINE __m256i avx2_reduce_lanes(const __m256i *v, const int n) {
    const __m256i z = _mm256_setzero_si256();
    if (n == 1) {
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v[0]), _mm256_extracti128_si256(v[0], 1));
        s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
        return _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_cvtsi32_si128(_mm_cvtsi128_si32(s)), 0);
    }
    const __m256i a = _mm256_hadd_epi32(v[0], v[1]);
    const __m256i b = n > 2 ? _mm256_hadd_epi32(v[2], n > 3 ? v[3] : z) : z;
    const __m256i e = _mm256_hadd_epi32(a, b); /* low half: lanes 0..3 of v0..v3, high: 4..7 */
    if (n <= 4) {
        const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(e), _mm256_extracti128_si256(e, 1));
        return _mm256_inserti128_si256(_mm256_setzero_si256(), s, 0);
    }
    const __m256i c = _mm256_hadd_epi32(v[4], n > 5 ? v[5] : z);
    const __m256i d = n > 6 ? _mm256_hadd_epi32(v[6], n > 7 ? v[7] : z) : z;
    const __m256i f = _mm256_hadd_epi32(c, d);
    return _mm256_add_epi32(_mm256_permute2x128_si256(e, f, 0x20), _mm256_permute2x128_si256(e, f, 0x31));
}

/* Prefetches the part of the next tile's rows (the R rows after this
 * tile's, contiguous in memory: bytes [off, off + R * wrb) from w, off =
 * R * wrb) that matches block b of this tile: [off + b * L, off + (b + 1) *
 * L), L = R * block bytes. Rows are short (a few KB), so the hardware
 * prefetcher alone does not run far enough ahead of R interleaved streams
 * that end so soon; the next tile's bytes are contiguous and a whole tile
 * ahead. Into the L2 only (prefetcht1: Zen 4 and later fill the L2, not the
 * L1), so that the stream does not hold the L1's miss buffers: Q6_K decode
 * 1.4-1.9x against T0 (qwq-bench-kernels --levels avx2, 2 threads, three
 * alternating pairs, 2026-12-08, Zen 4), F16/BF16 1.2-1.9x, Q3_K 1.0-1.2x, prefill
 * 0.95-1.15x. The lane layout
 * (gemm_lane.h) measured 0.8-0.9x with T1 on rows of 5120 and keeps T0.
 * Prefetches never fault, so addresses past the matrix (the last
 * tile's "next") are harmless; they are formed as integers. */
AVX2_INLINE void avx2_prefetch_next(const uint8_t *w, size_t off, int64_t b, size_t L) {
    const uintptr_t p = (uintptr_t)w + off + (size_t)b * L;
    for (size_t k = 0; k <= (L + 63) / 64; k++) _mm_prefetch((const char *)(p + 64 * k), _MM_HINT_T1);
}

/* The n (<= 8) binary16 values h, put together in general registers and
 * moved over once (word inserts, one per value, cost a third of a 4 x 2
 * pair tile's instructions when those tiles had block scales): word i of
 * the result is h[i]. gemm_lane.h's block scales use it. */
AVX2_INLINE __m128i avx2_words(const uint16_t *h, const int n) {
    uint64_t lo = 0, hi = 0;
    for (int i = 0; i < n && i < 4; i++) lo |= (uint64_t)h[i] << (16 * i);
    for (int i = 4; i < n; i++) hi |= (uint64_t)h[i] << (16 * (i - 4));
    return n > 4 ? _mm_set_epi64x((long long)hi, (long long)lo) : _mm_cvtsi64_si128((long long)lo);
}
/* Pair lanes: lane p = r * T + t of an R x T tile (R * T <= 8) holds the
 * pair (row r, token t); lanes from R * T on are 0. f[r] (by_row) or f[t]
 * (by_tok) spread over the lanes of their pairs. */
AVX2_INLINE __m256 avx2_lanes_by_row(const float *f, const int R, const int T) {
    if (R == 1) return _mm256_set1_ps(f[0]);
#define L_(p) ((p) < R * T ? f[(p) / T] : 0.0f)
    return _mm256_setr_ps(L_(0), L_(1), L_(2), L_(3), L_(4), L_(5), L_(6), L_(7));
#undef L_
}
AVX2_INLINE __m256 avx2_lanes_by_tok(const float *f, const int R, const int T) {
    if (T == 1) return _mm256_set1_ps(f[0]);
#define L_(p) ((p) < R * T ? f[(p) % T] : 0.0f)
    return _mm256_setr_ps(L_(0), L_(1), L_(2), L_(3), L_(4), L_(5), L_(6), L_(7));
#undef L_
}

/* Stores lane r * T + t of v to y[t * ys + r] (r < R, t < T). */
AVX2_INLINE void avx2_store_pairs(__m256 v, float *y, int64_t ys, const int R, const int T) {
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            y[t * ys + r] = _mm256_cvtss_f32(_mm256_permutevar8x32_ps(v, _mm256_set1_epi32(r * T + t)));
}

/* Lanes r * T + t of a vector from y[t * ys + r] (r < R, t < T), 0 elsewhere:
 * the running sums of a tile that continues over a later part of the rows. */
AVX2_INLINE __m256 avx2_load_pairs(const float *y, int64_t ys, const int R, const int T) {
#define L_(p) ((p) < R * T ? y[(p) % T * ys + (p) / T] : 0.0f)
    return _mm256_setr_ps(L_(0), L_(1), L_(2), L_(3), L_(4), L_(5), L_(6), L_(7));
#undef L_
}

/* ---- the tile driver ------------------------------------------------------------ */

/* AVX2_FLOAT_PART: the float tiles' fixed parts (see gemm_f_avx2.c);
 * AVX2_SPLIT_Q: where the driver splits rows of quantized types (any
 * multiple of 256 would give the same bits). */
enum { AVX2_RMAX = 8, AVX2_TMAX = 4, AVX2_FLOAT_PART = 1024, AVX2_SPLIT_Q = 4096 };

/* A tile: y for its rows and tokens over n elements of the rows (w and a
 * point at the first block). With cont, it continues the per-pair running
 * sums stored in y (f32) instead of starting from 0: splitting a row at a
 * multiple of the tile set's `split` keeps every pair's sequence of
 * operations, so the driver may split long rows to keep activations in
 * L2. */
typedef void (*avx2_tile_fn)(const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb, int64_t n, float *y,
                             int64_t ys, int cont);

/* The tiles of one weight type: big[c] computes rows[c] rows x c tokens
 * (c = 1..tok); one[c] is its 1-row version for rows left over (NULL when
 * rows[c] is 1). AVX2_RMAX is a multiple of every rows[c]. */
typedef struct avx2_tiles {
    uint32_t type;
    int split; /* rows may be split at multiples of this many elements */
    int tok;
    int rows[AVX2_TMAX + 1];
    avx2_tile_fn big[AVX2_TMAX + 1];
    avx2_tile_fn one[AVX2_TMAX + 1];
} avx2_tiles;

void avx2_gemm_tiled(const avx2_tiles *k, const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb,
                     int64_t n_in, int64_t r0, int64_t r1, int32_t n_tok, float *y, int64_t ys);

/* Tile instances: body(w, wrb, a, arb, n, y, ys, cont, R, T) is an inline
 * function whose R and T are constants. */
#define AVX2_TILE(nm, body, R, T)                                                                                \
    static void nm##_##R##x##T(const uint8_t *w, size_t wrb, const uint8_t *a, size_t arb, int64_t n, float *y, \
                               int64_t ys, int cont) {                                                           \
        body(w, wrb, a, arb, n, y, ys, cont, R, T);                                                              \
    }
/* Pair tiles (one pair per lane: R * T <= 8): 8x1, 4x2, 2x3, 2x4. */
#define AVX2_TILES_PAIRS(nm, body, qtype)                                                                     \
    AVX2_TILE(nm, body, 8, 1)                                                                                 \
    AVX2_TILE(nm, body, 4, 2)                                                                                 \
    AVX2_TILE(nm, body, 2, 3)                                                                                 \
    AVX2_TILE(nm, body, 2, 4)                                                                                 \
    AVX2_TILE(nm, body, 1, 1)                                                                                 \
    AVX2_TILE(nm, body, 1, 2)                                                                                 \
    AVX2_TILE(nm, body, 1, 3)                                                                                 \
    AVX2_TILE(nm, body, 1, 4)                                                                                 \
    static const avx2_tiles nm##_tiles = {qtype,                                                              \
                                          AVX2_SPLIT_Q,                                                       \
                                          4,                                                                  \
                                          {0, 8, 4, 2, 2},                                                    \
                                          {NULL, nm##_8x1, nm##_4x2, nm##_2x3, nm##_2x4},                     \
                                          {NULL, nm##_1x1, nm##_1x2, nm##_1x3, nm##_1x4}};
#define AVX2_GEMM(nm)                                                                                            \
    void avx2_gemm_##nm(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,  \
                        int64_t r1, int32_t n_tok, float *y, int64_t ys) {                                       \
        avx2_gemm_tiled(&nm##_tiles, w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys);                              \
    }

/* ---- the kernels ------------------------------------------------------------------- */

#define AVX2_DECLARE_GEMM(name)                                                                                    \
    void avx2_gemm_##name(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0, \
                          int64_t r1, int32_t n_tok, float *y, int64_t ys)
AVX2_DECLARE_GEMM(f32);
AVX2_DECLARE_GEMM(f16);
AVX2_DECLARE_GEMM(bf16);
AVX2_DECLARE_GEMM(q4_0);
AVX2_DECLARE_GEMM(q4_1);
AVX2_DECLARE_GEMM(q5_0);
AVX2_DECLARE_GEMM(q5_1);
AVX2_DECLARE_GEMM(q8_0);
AVX2_DECLARE_GEMM(q2_K);
AVX2_DECLARE_GEMM(q3_K);
AVX2_DECLARE_GEMM(q4_K);
AVX2_DECLARE_GEMM(q5_K);
AVX2_DECLARE_GEMM(q6_K);

void avx2_quantize_q8_0(const float *x, void *dst, int64_t n);
void avx2_quantize_q8_1(const float *x, void *dst, int64_t n);
void avx2_quantize_q8_K(const float *x, void *dst, int64_t n);

#endif
