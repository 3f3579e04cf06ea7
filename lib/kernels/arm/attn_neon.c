/* The NEON attention kernel: attn_simd.h over 4-lane vectors (aarch64 has
 * 32 vector registers: one query row per register tile). */
#include <arm_neon.h>
#include <math.h>

#include "kernels/kernels.h"

#define VEC float32x4_t
#define VL 4
#define QK_ROWS 1
#define QK_VECS 16
#define PV_ROWS 2
#define PV_VECS 8
/* decode q . k: up to 6 rows x 1 key block (4 vectors): 24 accumulators */
#define QKD_ROWS 6
#define QKD_BLOCKS 1
/* decode p . v: up to 3 rows x 8 vectors in one tile */
#define PVD_ROWS 3

static inline VEC vzero(void) { return vdupq_n_f32(0.0f); }
static inline VEC vload(const float *p) { return vld1q_f32(p); }
static inline void vstore(float *p, VEC v) { vst1q_f32(p, v); }
static inline VEC vbcast(const float *p) { return vld1q_dup_f32(p); }
static inline VEC vset1(float x) { return vdupq_n_f32(x); }
static inline VEC vadd(VEC a, VEC b) { return vaddq_f32(a, b); }
static inline VEC vsub(VEC a, VEC b) { return vsubq_f32(a, b); }
static inline VEC vmul(VEC a, VEC b) { return vmulq_f32(a, b); }
static inline VEC vfma(VEC a, VEC b, VEC c) { return vfmaq_f32(c, a, b); }
static inline VEC vfnma(VEC a, VEC b, VEC c) { return vfmsq_f32(c, a, b); }
static inline VEC vmax(VEC a, VEC b) { return vmaxq_f32(a, b); }
static inline VEC vdiv(VEC a, VEC b) { return vdivq_f32(a, b); }
static inline VEC vabs(VEC a) { return vabsq_f32(a); }
static inline VEC vsel_neg(VEC x, VEC a, VEC b) { return vbslq_f32(vcltzq_f32(x), a, b); }
static inline float vhmax(VEC v) { return vmaxvq_f32(v); }
static inline float vhsum(VEC v) { /* (0 + 2) + (1 + 3), as the x86 trees end */
    const float32x2_t h = vadd_f32(vget_low_f32(v), vget_high_f32(v));
    return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);
}
static inline uint32x4_t lanes_below(int32_t n) {
    const int32x4_t idx = {0, 1, 2, 3};
    return vcltq_s32(idx, vdupq_n_s32(n));
}
static inline VEC vtail_ninf(VEC v, int32_t n) { return vbslq_f32(lanes_below(n), v, vdupq_n_f32(-INFINITY)); }
static inline VEC vtail_zero(VEC v, int32_t n) { return vbslq_f32(lanes_below(n), v, vdupq_n_f32(0.0f)); }

/* e^x (attn_simd.h): 2^n built in the exponent field, inputs clamped at -87
 * (about 1.6e-38, never a subnormal), far below what a softmax weight can
 * change */
#define VEXP_MIN (-87.0f)
static inline VEC vround(VEC v) { return vrndnq_f32(v); }
static inline VEC vscale2(VEC p, VEC n) {
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

#include "kernels/attn_simd.h"

void attn_neon(const attn_tile *tile, float *work) { attn_tile_simd(tile, work); }
void attn_part_neon(const attn_part *part, float *work) { attn_part_simd(part, work); }
void attn_merge_neon(const float *m, const float *s, const float *o, int32_t n_seg, int32_t n_head, int32_t head_dim,
                     int32_t r0, int32_t r1, float *out) {
    attn_merge_simd(m, s, o, n_seg, n_head, head_dim, r0, r1, out);
}
void swiglu_neon(float *gate, const float *up, int64_t n) { swiglu_simd(gate, up, n); }
