/* The AVX-512 attention kernel: attn_simd.h over 16-lane vectors. */
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"

#define VEC __m512
#define VL 16
#define QK_ROWS 4
#define QK_VECS 4
/* 4 rows x 4 vectors: 16 accumulators, each value vector loaded once for
 * four rows (2 x 8: the whole kernel 1.4-1.5x slower; 5 x 4 the same) */
#define PV_ROWS 4
#define PV_VECS 4
/* decode q . k: up to 8 rows x 2 key blocks (16 accumulators; QwQ-32B's 5
 * rows x 1 block would be 5 chains of 128 dependent FMAs) */
#define QKD_ROWS 8
#define QKD_BLOCKS 2
/* decode p . v: a KV head's rows (QwQ-32B: 5) in one tile of up to 6 x 4 vectors */
#define PVD_ROWS 6

static inline VEC vzero(void) { return _mm512_setzero_ps(); }
static inline VEC vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, VEC v) { _mm512_storeu_ps(p, v); }
static inline VEC vbcast(const float *p) { return _mm512_set1_ps(*p); }
static inline VEC vset1(float x) { return _mm512_set1_ps(x); }
static inline VEC vadd(VEC a, VEC b) { return _mm512_add_ps(a, b); }
static inline VEC vsub(VEC a, VEC b) { return _mm512_sub_ps(a, b); }
static inline VEC vmul(VEC a, VEC b) { return _mm512_mul_ps(a, b); }
static inline VEC vfma(VEC a, VEC b, VEC c) { return _mm512_fmadd_ps(a, b, c); }
static inline VEC vmax(VEC a, VEC b) { return _mm512_max_ps(a, b); }
static inline VEC vdiv(VEC a, VEC b) { return _mm512_div_ps(a, b); }
static inline VEC vabs(VEC a) { return _mm512_abs_ps(a); }
static inline VEC vsel_neg(VEC x, VEC a, VEC b) {
    return _mm512_mask_mov_ps(b, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), a);
}
static inline float vhmax(VEC v) { return _mm512_reduce_max_ps(v); }
static inline float vhsum(VEC v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}
static inline __mmask16 tail_mask(int32_t n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }
static inline VEC vtail_ninf(VEC v, int32_t n) { return _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), tail_mask(n), v); }
static inline VEC vtail_zero(VEC v, int32_t n) { return _mm512_maskz_mov_ps(tail_mask(n), v); }

/* e^x (attn_simd.h): 2^n with vscalefps, which also gives the subnormal and
 * zero results of the smallest inputs */
#define VEXP_MIN (-104.0f)
static inline VEC vround(VEC v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline VEC vfnma(VEC a, VEC b, VEC c) { return _mm512_fnmadd_ps(a, b, c); }
static inline VEC vscale2(VEC p, VEC n) { return _mm512_scalef_ps(p, n); }

#include "kernels/attn_simd.h"

void attn_avx512(const attn_tile *tile, float *work) { attn_tile_simd(tile, work); }
void attn_part_avx512(const attn_part *part, float *work) { attn_part_simd(part, work); }
void attn_merge_avx512(const float *m, const float *s, const float *o, int32_t n_seg, int32_t n_head, int32_t head_dim,
                       int32_t r0, int32_t r1, float *out) {
    attn_merge_simd(m, s, o, n_seg, n_head, head_dim, r0, r1, out);
}
void swiglu_avx512(float *gate, const float *up, int64_t n) { swiglu_simd(gate, up, n); }
