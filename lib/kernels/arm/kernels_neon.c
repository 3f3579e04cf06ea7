/*
 * The NEON level (any ARMv8-A CPU): integer dots from vmull_s8 / vmlal_s8
 * and vpadalq_s16, f32 / f16 / bf16 weights with f32 vector products, and the
 * activation quantizers.
 *
 * The quantizers give the bytes of quant.c's, bit for bit: the same f32
 * operations per element (x * id, scale * x), roundf as FCVTAS (nearest,
 * ties away from zero) and rintf as FCVTNS (nearest, ties to even, the
 * default rounding mode), NaN to 0 and the clamp to [-127, 127] as
 * clamp_i8; the block maximum of |x| from 0 with NaN lanes masked to 0
 * (ignored, as the scalar `v > amax` does).
 */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "util/util.h"

/* 16 int8 products into the four lanes; every product fits int16
 * (|-128 * -128| = 2^14) and pairs are widened before they are added. */
static inline __attribute__((always_inline)) int32x4_t neon_dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}
/* Weights |w| <= 32: lane i of the int16 sum w[i] a[i] + w[i + 8] a[i + 8]
 * is at most 2^13 in magnitude, then pairs widen into int32. */
static inline __attribute__((always_inline)) int32x4_t neon_dot16_smallw(int32x4_t acc, int8x16_t w, int8x16_t a) {
    return vpadalq_s16(acc, vmlal_high_s8(vmull_s8(vget_low_s8(w), vget_low_s8(a)), w, a));
}
#define ARM_DOT16(acc, a, b) neon_dot16(acc, a, b)
#define ARM_DOT16_SMALLW(acc, w, a) neon_dot16_smallw(acc, w, a)
#include "kernels/arm/gemm_int8_arm.h"

ARM_INT8_GEMMS(neon)

/* ---- float weights ------------------------------------------------------------
 *
 * Per (row, token): chunks of 128 elements summed in f32 (fused
 * multiply-add into four vectors, at most 8 products per lane), each
 * chunk's sum added into f64 lanes; the last chunk's elements beyond a
 * multiple of 4 go one by one in double, as quant_dot.c does. The error
 * is a few f32 roundings relative to sum |w * a|. */
enum { F_CHUNK = 128 };
enum { WF32, WF16, WBF16 };

ARM_INLINE float32x4_t load_w4(int kind, const uint8_t *w, int64_t i) {
    if (kind == WF32) return vld1q_f32((const float *)w + i);
    const uint16x4_t h = vld1_u16((const uint16_t *)w + i);
    if (kind == WF16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

/* 16 weights from element i into four vectors. */
ARM_INLINE void load_w16(int kind, const uint8_t *w, int64_t i, float32x4_t wv[4]) {
    if (kind == WF32) {
        for (int k = 0; k < 4; k++) wv[k] = vld1q_f32((const float *)w + i + 4 * k);
        return;
    }
    const uint16x8_t h0 = vld1q_u16((const uint16_t *)w + i), h1 = vld1q_u16((const uint16_t *)w + i + 8);
    if (kind == WF16) {
        const float16x8_t f0 = vreinterpretq_f16_u16(h0), f1 = vreinterpretq_f16_u16(h1);
        wv[0] = vcvt_f32_f16(vget_low_f16(f0));
        wv[1] = vcvt_high_f32_f16(f0);
        wv[2] = vcvt_f32_f16(vget_low_f16(f1));
        wv[3] = vcvt_high_f32_f16(f1);
    } else {
        wv[0] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h0), 16));
        wv[1] = vreinterpretq_f32_u32(vshll_high_n_u16(h0, 16));
        wv[2] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h1), 16));
        wv[3] = vreinterpretq_f32_u32(vshll_high_n_u16(h1, 16));
    }
}

ARM_INLINE float load_w1(int kind, const uint8_t *w, int64_t i) {
    if (kind == WF32) return ((const float *)w)[i];
    uint16_t h;
    memcpy(&h, w + 2 * i, 2);
    return kind == WF16 ? arm_h2f(h) : bf16_to_f32(h);
}

ARM_INLINE void tile_float(int kind, const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n, int nt,
                           float *out) {
    float64x2_t dacc[4];
    double tail[4] = {0.0, 0.0, 0.0, 0.0};
    const float *a[4];
    for (int t = 0; t < nt; t++) {
        dacc[t] = vdupq_n_f64(0.0);
        a[t] = (const float *)(act + (size_t)t * arb);
    }
    for (int64_t i = 0; i < n; i += F_CHUNK) {
        const int64_t len = n - i < F_CHUNK ? n - i : F_CHUNK;
        float32x4_t acc[4][4];
        for (int t = 0; t < nt; t++)
            for (int k = 0; k < 4; k++) acc[t][k] = vdupq_n_f32(0.0f);
        int64_t j = 0;
        for (; j + 16 <= len; j += 16) {
            float32x4_t wv[4];
            load_w16(kind, wr, i + j, wv);
            for (int t = 0; t < nt; t++)
                for (int k = 0; k < 4; k++) acc[t][k] = vfmaq_f32(acc[t][k], wv[k], vld1q_f32(a[t] + i + j + 4 * k));
        }
        for (; j + 4 <= len; j += 4) {
            const float32x4_t wv = load_w4(kind, wr, i + j);
            for (int t = 0; t < nt; t++) acc[t][0] = vfmaq_f32(acc[t][0], wv, vld1q_f32(a[t] + i + j));
        }
        for (int t = 0; t < nt; t++) {
            const float32x4_t s = vaddq_f32(vaddq_f32(acc[t][0], acc[t][1]), vaddq_f32(acc[t][2], acc[t][3]));
            dacc[t] = vaddq_f64(dacc[t], vcvt_f64_f32(vget_low_f32(s)));
            dacc[t] = vaddq_f64(dacc[t], vcvt_high_f64_f32(s));
        }
        for (; j < len; j++) {
            const float wj = load_w1(kind, wr, i + j);
            for (int t = 0; t < nt; t++) tail[t] += (double)(wj * a[t][i + j]);
        }
    }
    for (int t = 0; t < nt; t++) out[t] = (float)(vaddvq_f64(dacc[t]) + tail[t]);
}

ARM_INLINE void tile_f32(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n, int nt, float *out) {
    tile_float(WF32, wr, act, arb, n, nt, out);
}
ARM_INLINE void tile_f16(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n, int nt, float *out) {
    tile_float(WF16, wr, act, arb, n, nt, out);
}
ARM_INLINE void tile_bf16(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n, int nt, float *out) {
    tile_float(WBF16, wr, act, arb, n, nt, out);
}
ARM_GEMM(gemm_f32_neon, tile_f32)
ARM_GEMM(gemm_f16_neon, tile_f16)
ARM_GEMM(gemm_bf16_neon, tile_bf16)

/* ---- activation quantizers ------------------------------------------------------ */

/* |x| with NaN (quiet or signalling) as +0, so that it never wins a max. */
ARM_INLINE float32x4_t neon_abs_nonan(const float *x) {
    const float32x4_t v = vld1q_f32(x);
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vabsq_f32(v)), vceqq_f32(v, v)));
}

/* max(0, |x[0..n)|) with NaN ignored, as quant.c's `v > amax` loop; n a
 * multiple of 16. */
ARM_INLINE float neon_amax(const float *x, int n) {
    float32x4_t m0 = vdupq_n_f32(0.0f), m1 = m0, m2 = m0, m3 = m0;
    for (int j = 0; j < n; j += 16) {
        m0 = vmaxq_f32(m0, neon_abs_nonan(x + j));
        m1 = vmaxq_f32(m1, neon_abs_nonan(x + j + 4));
        m2 = vmaxq_f32(m2, neon_abs_nonan(x + j + 8));
        m3 = vmaxq_f32(m3, neon_abs_nonan(x + j + 12));
    }
    return vmaxvq_f32(vmaxq_f32(vmaxq_f32(m0, m1), vmaxq_f32(m2, m3)));
}

/* Four int32x4 clamped to [-127, 127] and narrowed to 16 int8. */
ARM_INLINE int8x16_t neon_narrow_clamp(int32x4_t q0, int32x4_t q1, int32x4_t q2, int32x4_t q3) {
    const int32x4_t hi = vdupq_n_s32(127), lo = vdupq_n_s32(-127);
    q0 = vmaxq_s32(vminq_s32(q0, hi), lo);
    q1 = vmaxq_s32(vminq_s32(q1, hi), lo);
    q2 = vmaxq_s32(vminq_s32(q2, hi), lo);
    q3 = vmaxq_s32(vminq_s32(q3, hi), lo);
    const int16x8_t h0 = vcombine_s16(vmovn_s32(q0), vmovn_s32(q1));
    const int16x8_t h1 = vcombine_s16(vmovn_s32(q2), vmovn_s32(q3));
    return vcombine_s8(vmovn_s16(h0), vmovn_s16(h1));
}

/* 16 values round(x * id), ties away from zero (roundf), clamped. */
ARM_INLINE int8x16_t neon_q16_away(const float *x, float id) {
    return neon_narrow_clamp(vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x), id)),
                             vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4), id)),
                             vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8), id)),
                             vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + 12), id)));
}

/* 16 values rint(scale * x), ties to even (rintf), clamped. */
ARM_INLINE int8x16_t neon_q16_even(const float *x, float scale) {
    return neon_narrow_clamp(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x), scale)),
                             vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4), scale)),
                             vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8), scale)),
                             vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 12), scale)));
}

static void quantize_q8_0_neon(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        const float amax = neon_amax(x, QK8_0);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp16_from_f32(d);
        vst1q_s8(y[b].qs, neon_q16_away(x, id));
        vst1q_s8(y[b].qs + 16, neon_q16_away(x + 16, id));
    }
}

static void quantize_q8_1_neon(const float *x, void *dst, int64_t n) {
    block_q8_1 *y = dst;
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        const float amax = neon_amax(x, QK8_1);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const int8x16_t q0 = neon_q16_away(x, id), q1 = neon_q16_away(x + 16, id);
        vst1q_s8(y[b].qs, q0);
        vst1q_s8(y[b].qs + 16, q1);
        const int sum = vaddlvq_s8(q0) + vaddlvq_s8(q1);
        y[b].d = fp16_from_f32(d);
        y[b].s = fp16_from_f32((float)sum * d);
    }
}

static void quantize_q8_K_neon(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        const float amax = neon_amax(x, QK_K);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        /* the first element of largest magnitude (amax is one of them) */
        float max = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(x[j]) == amax) {
                max = x[j];
                break;
            }
        }
        const float scale = -127.0f / max;
        for (int i = 0; i < QK_K / 16; i++) {
            const int8x16_t q = neon_q16_even(x + 16 * i, scale);
            vst1q_s8(y[b].qs + 16 * i, q);
            y[b].bsums[i] = vaddlvq_s8(q);
        }
        y[b].d = 1.0f / scale;
    }
}

void kernels_fill_neon(kernel_table *t) {
    t->attention = attn_neon;
    t->attention_part = attn_part_neon;
    t->attention_merge = attn_merge_neon;
    t->swiglu = swiglu_neon;
    t->gemm[QTYPE_F32] = gemm_f32_neon;
    t->gemm[QTYPE_F16] = gemm_f16_neon;
    t->gemm[QTYPE_BF16] = gemm_bf16_neon;
    ARM_SET_INT8_GEMMS(t, neon);
    /* float weights take the f32 row as it is (quant.c's copy) */
    t->quantize[QTYPE_Q8_0] = quantize_q8_0_neon;
    t->quantize[QTYPE_Q4_0] = quantize_q8_0_neon;
    t->quantize[QTYPE_Q5_0] = quantize_q8_0_neon;
    t->quantize[QTYPE_Q4_1] = quantize_q8_1_neon;
    t->quantize[QTYPE_Q5_1] = quantize_q8_1_neon;
    t->quantize[QTYPE_Q2_K] = quantize_q8_K_neon;
    t->quantize[QTYPE_Q3_K] = quantize_q8_K_neon;
    t->quantize[QTYPE_Q4_K] = quantize_q8_K_neon;
    t->quantize[QTYPE_Q5_K] = quantize_q8_K_neon;
    t->quantize[QTYPE_Q6_K] = quantize_q8_K_neon;
}
