/* The AVX2 attention kernel: attn_simd.h over 8-lane vectors (16 registers:
 * smaller register tiles than AVX-512). */
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"

#define VEC __m256
#define VL 8
/* q . k: 4 rows x 2 vectors (8 accumulators, a key vector used four times;
 * one row x the whole chunk was 0.8x); p . v: 4 rows x 2 vectors too (2 x 4
 * 0.8x, 5 x 2 the same, 6 x 2 and 8 x 1 spill) */
#define QK_ROWS 4
#define QK_VECS 2
#define PV_ROWS 4
#define PV_VECS 2
/* decode q . k: up to 5 rows x 1 key block (2 vectors): 10 accumulators */
#define QKD_ROWS 5
#define QKD_BLOCKS 1
/* decode p . v: up to 5 rows x 2 vectors in one tile (16 registers) */
#define PVD_ROWS 5

static inline VEC vzero(void) { return _mm256_setzero_ps(); }
static inline VEC vload(const float *p) { return _mm256_loadu_ps(p); }
static inline void vstore(float *p, VEC v) { _mm256_storeu_ps(p, v); }
static inline VEC vbcast(const float *p) { return _mm256_broadcast_ss(p); }
static inline VEC vset1(float x) { return _mm256_set1_ps(x); }
static inline VEC vadd(VEC a, VEC b) { return _mm256_add_ps(a, b); }
static inline VEC vsub(VEC a, VEC b) { return _mm256_sub_ps(a, b); }
static inline VEC vmul(VEC a, VEC b) { return _mm256_mul_ps(a, b); }
static inline VEC vfma(VEC a, VEC b, VEC c) { return _mm256_fmadd_ps(a, b, c); }
static inline VEC vmax(VEC a, VEC b) { return _mm256_max_ps(a, b); }
static inline VEC vdiv(VEC a, VEC b) { return _mm256_div_ps(a, b); }
static inline VEC vabs(VEC a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline VEC vsel_neg(VEC x, VEC a, VEC b) { return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ)); }
static inline float vhmax(VEC v) {
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_max_ss(a, _mm_shuffle_ps(a, a, 1)));
}
static inline float vhsum(VEC v) {
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}
/* lanes < n all ones */
static inline __m256 lanes_below(int32_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx));
}
static inline VEC vtail_ninf(VEC v, int32_t n) { return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), v, lanes_below(n)); }
static inline VEC vtail_zero(VEC v, int32_t n) { return _mm256_and_ps(v, lanes_below(n)); }

/* e^x (attn_simd.h): 2^n built in the exponent field, so inputs are clamped
 * at -87 (e^-87 is about 1.6e-38, never a subnormal), far below what a
 * softmax weight can change */
#define VEXP_MIN (-87.0f)
static inline VEC vround(VEC v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline VEC vfnma(VEC a, VEC b, VEC c) { return _mm256_fnmadd_ps(a, b, c); }
static inline VEC vscale2(VEC p, VEC n) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

#include "kernels/attn_simd.h"

void attn_avx2(const attn_tile *tile, float *work) { attn_tile_simd(tile, work); }
void attn_part_avx2(const attn_part *part, float *work) { attn_part_simd(part, work); }
void attn_merge_avx2(const float *m, const float *s, const float *o, int32_t n_seg, int32_t n_head, int32_t head_dim,
                     int32_t r0, int32_t r1, float *out) {
    attn_merge_simd(m, s, o, n_seg, n_head, head_dim, r0, r1, out);
}
void swiglu_avx2(float *gate, const float *up, int64_t n) { swiglu_simd(gate, up, n); }
