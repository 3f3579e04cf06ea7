/*
 * gemm_int8_arm.h - the integer-dot gemm kernels of the aarch64 levels,
 * written once and compiled twice: kernels_neon.c includes this file with
 * ARM_DOT16 built from vmull_s8 / vpadalq_s16 (any ARMv8 CPU), and
 * kernels_dotprod.c with ARM_DOT16 = vdotq_s32 (ARMv8.2 dot product).
 *
 * Invariants
 *  - ARM_DOT16(acc, a, b) adds the 16 products a[i] * b[i] into the four
 *    int32 lanes of acc; ARM_DOT16_SMALLW(acc, w, a) does the same for
 *    weights |w| <= 32 (the neon level then adds pairs of products in
 *    int16 first). How the products are spread over the lanes differs
 *    between the two definitions, so a kernel only ever uses the sum of all
 *    four lanes of the dot of a whole 16-byte vector (possibly after
 *    multiplying lanes that all belong to one sub-block by that
 *    sub-block's scale). All integer sums are exact (bounds: quant_dot.c).
 *  - The float part reproduces quant_dot.c operation for operation: one
 *    integer sum per block (and per min term), then the same f32 products
 *    and sums in block order. The scalar, neon and dotprod levels therefore
 *    give the same bits for the quantized types (the contract only asks for
 *    1e-5 of sum |w * a|).
 *  - A tile computes one weight row against up to four activation rows;
 *    each (row, token) has its own accumulators and goes through the same
 *    operations whatever the tile width, so results do not depend on r0,
 *    r1 or n_tok.
 */
#ifndef QWQ_GEMM_INT8_ARM_H
#define QWQ_GEMM_INT8_ARM_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "kernels/quant.h"

#ifndef ARM_DOT16
#error "define ARM_DOT16(acc, a, b) before including gemm_int8_arm.h"
#endif
/* The same for weights w with |w| <= 32 (every type but q8_0): two
 * products then fit an int16 sum whatever the int8 activation. */
#ifndef ARM_DOT16_SMALLW
#define ARM_DOT16_SMALLW(acc, w, a) ARM_DOT16(acc, w, a)
#endif

#define ARM_INLINE static inline __attribute__((always_inline))

/* f16 bits to f32: exact, as fp16_to_f32 (the hardware conversion). */
ARM_INLINE float arm_h2f(uint16_t h) {
    __fp16 x;
    memcpy(&x, &h, sizeof x);
    return (float)x;
}

/* The block b of activation row t of a tile. */
#define ACT_BLOCK(T, act, arb, t, b) ((const T *)((act) + (size_t)(t) * (arb)) + (b))

/* The 16 bytes of 4 consecutive 32-bit words' bits, one byte per bit:
 * byte j is 0x10 when bit (8 * idx[j] + j % 8) of the word is set. */
static const uint8_t arm_bit_of_byte[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
static const uint8_t arm_idx_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
static const uint8_t arm_idx_hi[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};

/* Fifth bits of a Q5_0 / Q5_1 block as 0x10 bytes: elements 0..15 in *lo,
 * 16..31 in *hi. */
ARM_INLINE void arm_q5_high_bits(const uint8_t qh_bytes[4], uint8x16_t *lo, uint8x16_t *hi) {
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    const uint8x16_t v = vreinterpretq_u8_u32(vdupq_n_u32(qh));
    const uint8x16_t bits = vld1q_u8(arm_bit_of_byte);
    const uint8x16_t b16 = vdupq_n_u8(0x10);
    *lo = vandq_u8(vtstq_u8(vqtbl1q_u8(v, vld1q_u8(arm_idx_lo)), bits), b16);
    *hi = vandq_u8(vtstq_u8(vqtbl1q_u8(v, vld1q_u8(arm_idx_hi)), bits), b16);
}

/* The int32 sum of w . a over 32 bytes (any int8 w; |w| <= 32: _small). */
ARM_INLINE int32_t arm_dot32(int8x16_t w0, int8x16_t w1, const int8_t *a) {
    int32x4_t acc = ARM_DOT16(vdupq_n_s32(0), w0, vld1q_s8(a));
    acc = ARM_DOT16(acc, w1, vld1q_s8(a + 16));
    return vaddvq_s32(acc);
}
ARM_INLINE int32_t arm_dot32_small(int8x16_t w0, int8x16_t w1, const int8_t *a) {
    int32x4_t acc = ARM_DOT16_SMALLW(vdupq_n_s32(0), w0, vld1q_s8(a));
    acc = ARM_DOT16_SMALLW(acc, w1, vld1q_s8(a + 16));
    return vaddvq_s32(acc);
}

/* ---- 32-element blocks: q8_0, q4_0, q5_0 (q8_0 activations) ---------------- */

ARM_INLINE void tile_q8_0(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n_in, int nt, float *out) {
    const block_q8_0 *w = (const block_q8_0 *)wr;
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n_in / QK8_0; b++) {
        const int8x16_t w0 = vld1q_s8(w[b].qs), w1 = vld1q_s8(w[b].qs + 16);
        const float dw = arm_h2f(w[b].d);
        for (int t = 0; t < nt; t++) {
            const block_q8_0 *a = ACT_BLOCK(block_q8_0, act, arb, t, b);
            const int32_t isum = arm_dot32(w0, w1, a->qs);
            sum[t] += (dw * arm_h2f(a->d)) * (float)isum;
        }
    }
    for (int t = 0; t < nt; t++) out[t] = sum[t];
}

ARM_INLINE void tile_q4_0(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n_in, int nt, float *out) {
    const block_q4_0 *w = (const block_q4_0 *)wr;
    const uint8x16_t m4 = vdupq_n_u8(15);
    const int8x16_t s8 = vdupq_n_s8(8);
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n_in / QK4_0; b++) {
        const uint8x16_t q = vld1q_u8(w[b].qs);
        const int8x16_t w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), s8);
        const int8x16_t w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), s8);
        const float dw = arm_h2f(w[b].d);
        for (int t = 0; t < nt; t++) {
            const block_q8_0 *a = ACT_BLOCK(block_q8_0, act, arb, t, b);
            const int32_t isum = arm_dot32_small(w0, w1, a->qs);
            sum[t] += (dw * arm_h2f(a->d)) * (float)isum;
        }
    }
    for (int t = 0; t < nt; t++) out[t] = sum[t];
}

ARM_INLINE void tile_q5_0(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n_in, int nt, float *out) {
    const block_q5_0 *w = (const block_q5_0 *)wr;
    const uint8x16_t m4 = vdupq_n_u8(15);
    const int8x16_t s16 = vdupq_n_s8(16);
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n_in / QK5_0; b++) {
        uint8x16_t hlo, hhi;
        arm_q5_high_bits(w[b].qh, &hlo, &hhi);
        const uint8x16_t q = vld1q_u8(w[b].qs);
        const int8x16_t w0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), hlo)), s16);
        const int8x16_t w1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hhi)), s16);
        const float dw = arm_h2f(w[b].d);
        for (int t = 0; t < nt; t++) {
            const block_q8_0 *a = ACT_BLOCK(block_q8_0, act, arb, t, b);
            const int32_t isum = arm_dot32_small(w0, w1, a->qs);
            sum[t] += (dw * arm_h2f(a->d)) * (float)isum;
        }
    }
    for (int t = 0; t < nt; t++) out[t] = sum[t];
}

/* ---- 32-element blocks with a min: q4_1, q5_1 (q8_1 activations) ---------- */

ARM_INLINE void tile_q4_1(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n_in, int nt, float *out) {
    const block_q4_1 *w = (const block_q4_1 *)wr;
    const uint8x16_t m4 = vdupq_n_u8(15);
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n_in / QK4_1; b++) {
        const uint8x16_t q = vld1q_u8(w[b].qs);
        const int8x16_t w0 = vreinterpretq_s8_u8(vandq_u8(q, m4));
        const int8x16_t w1 = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        const float dw = arm_h2f(w[b].d), mw = arm_h2f(w[b].m);
        for (int t = 0; t < nt; t++) {
            const block_q8_1 *a = ACT_BLOCK(block_q8_1, act, arb, t, b);
            const int32_t isum = arm_dot32_small(w0, w1, a->qs);
            sum[t] += (dw * arm_h2f(a->d)) * (float)isum + mw * arm_h2f(a->s);
        }
    }
    for (int t = 0; t < nt; t++) out[t] = sum[t];
}

ARM_INLINE void tile_q5_1(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n_in, int nt, float *out) {
    const block_q5_1 *w = (const block_q5_1 *)wr;
    const uint8x16_t m4 = vdupq_n_u8(15);
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n_in / QK5_1; b++) {
        uint8x16_t hlo, hhi;
        arm_q5_high_bits(w[b].qh, &hlo, &hhi);
        const uint8x16_t q = vld1q_u8(w[b].qs);
        const int8x16_t w0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), hlo));
        const int8x16_t w1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hhi));
        const float dw = arm_h2f(w[b].d), mw = arm_h2f(w[b].m);
        for (int t = 0; t < nt; t++) {
            const block_q8_1 *a = ACT_BLOCK(block_q8_1, act, arb, t, b);
            const int32_t isum = arm_dot32_small(w0, w1, a->qs);
            sum[t] += (dw * arm_h2f(a->d)) * (float)isum + mw * arm_h2f(a->s);
        }
    }
    for (int t = 0; t < nt; t++) out[t] = sum[t];
}

/* ---- super-blocks of 256 (q8_K activations) --------------------------------
 *
 * Each super-block goes in four chunks of 64 elements, four int8x16 weight
 * vectors per chunk (decoded once for all the tile's tokens). For the types
 * with sub-blocks of 16 the four vectors are four sub-blocks; for q4_K and
 * q5_K two sub-blocks of 32. */

/* isv += [sum(d0), sum(d1), sum(d2), sum(d3)] * sc, lane-wise. */
ARM_INLINE int32x4_t arm_acc4(int32x4_t isv, int32x4_t d0, int32x4_t d1, int32x4_t d2, int32x4_t d3, int32x4_t sc) {
    return vmlaq_s32(isv, vpaddq_s32(vpaddq_s32(d0, d1), vpaddq_s32(d2, d3)), sc);
}

/* The four dots of chunk c of a q8_K block with weight vectors w[0..3]. */
ARM_INLINE void arm_chunk_dots(const int8x16_t wv[4], const int8_t *aq, int32x4_t d[4]) {
    const int32x4_t z = vdupq_n_s32(0);
    for (int k = 0; k < 4; k++) d[k] = ARM_DOT16_SMALLW(z, wv[k], vld1q_s8(aq + 16 * k));
}

/* Widens 16 int8 scales into four int32x4. */
ARM_INLINE void arm_widen_scales16(int8x16_t s, int32x4_t out[4]) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(s)), hi = vmovl_high_s8(s);
    out[0] = vmovl_s16(vget_low_s16(lo));
    out[1] = vmovl_high_s16(lo);
    out[2] = vmovl_s16(vget_low_s16(hi));
    out[3] = vmovl_high_s16(hi);
}

/* sum_i m[i] * bsums[i] over the 16 sub-blocks of 16 (q2_K). */
ARM_INLINE int32_t arm_min16(const block_q8_K *a, int16x8_t m_lo, int16x8_t m_hi) {
    const int16x8_t b0 = vld1q_s16(a->bsums), b1 = vld1q_s16(a->bsums + 8);
    int32x4_t acc = vmull_s16(vget_low_s16(b0), vget_low_s16(m_lo));
    acc = vmlal_high_s16(acc, b0, m_lo);
    acc = vmlal_s16(acc, vget_low_s16(b1), vget_low_s16(m_hi));
    acc = vmlal_high_s16(acc, b1, m_hi);
    return vaddvq_s32(acc);
}

/* sum_i m[i] * (bsums[2i] + bsums[2i + 1]) over 8 sub-blocks of 32. */
ARM_INLINE int32_t arm_min8(const block_q8_K *a, int16x8_t m) {
    const int16x8_t bs = vpaddq_s16(vld1q_s16(a->bsums), vld1q_s16(a->bsums + 8));
    int32x4_t acc = vmull_s16(vget_low_s16(bs), vget_low_s16(m));
    acc = vmlal_high_s16(acc, bs, m);
    return vaddvq_s32(acc);
}

ARM_INLINE void tile_q2_K(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n_in, int nt, float *out) {
    const block_q2_K *w = (const block_q2_K *)wr;
    const uint8x16_t m3 = vdupq_n_u8(3);
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n_in / QK_K; b++) {
        const block_q2_K *wb = w + b;
        const uint8x16_t sc_bytes = vld1q_u8(wb->scales);
        int32x4_t sc[4];
        arm_widen_scales16(vreinterpretq_s8_u8(vandq_u8(sc_bytes, vdupq_n_u8(15))), sc);
        const uint8x16_t mins = vshrq_n_u8(sc_bytes, 4);
        const int16x8_t m_lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
        const int16x8_t m_hi = vreinterpretq_s16_u16(vmovl_high_u8(mins));
        int32x4_t isv[4];
        for (int t = 0; t < nt; t++) isv[t] = vdupq_n_s32(0);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const int half = c / 2, shift = 4 * (c % 2);
            const uint8x16_t q0 = vld1q_u8(wb->qs + 32 * half), q1 = vld1q_u8(wb->qs + 32 * half + 16);
            const int8x16_t sh0 = vdupq_n_s8((int8_t)-shift), sh1 = vdupq_n_s8((int8_t)(-shift - 2));
            int8x16_t wv[4];
            wv[0] = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, sh0), m3));
            wv[1] = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, sh0), m3));
            wv[2] = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, sh1), m3));
            wv[3] = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, sh1), m3));
            for (int t = 0; t < nt; t++) {
                int32x4_t d[4];
                arm_chunk_dots(wv, ACT_BLOCK(block_q8_K, act, arb, t, b)->qs + 64 * c, d);
                isv[t] = arm_acc4(isv[t], d[0], d[1], d[2], d[3], sc[c]);
            }
        }
        const float wd = arm_h2f(wb->d), wdmin = arm_h2f(wb->dmin);
        for (int t = 0; t < nt; t++) {
            const block_q8_K *a = ACT_BLOCK(block_q8_K, act, arb, t, b);
            const int32_t isum = vaddvq_s32(isv[t]), isum_min = arm_min16(a, m_lo, m_hi);
            const float d = a->d * wd, dmin = a->d * wdmin;
            sum[t] += d * (float)isum - dmin * (float)isum_min;
        }
    }
    for (int t = 0; t < nt; t++) out[t] = sum[t];
}

/* The 16 signed 6-bit scales of a q3_K block (q3_K_scale for all i): low
 * nibbles from bytes 0..7 (i < 8) and their high nibbles (i >= 8), bits
 * 2 (i / 4) .. 2 (i / 4) + 1 of byte 8 + i % 4 above them, minus 32. */
static const int32_t arm_q3_shifts[4] = {0, -2, -4, -6};
ARM_INLINE int8x16_t arm_q3_K_scales(const uint8_t scales[12]) {
    const uint8x8_t s8 = vld1_u8(scales);
    uint32_t h;
    memcpy(&h, scales + 8, 4);
    const uint8x16_t lo = vcombine_u8(vand_u8(s8, vdup_n_u8(15)), vshr_n_u8(s8, 4));
    const uint32x4_t hw = vandq_u32(vshlq_u32(vdupq_n_u32(h), vld1q_s32(arm_q3_shifts)), vdupq_n_u32(0x03030303u));
    const uint8x16_t v = vorrq_u8(lo, vshlq_n_u8(vreinterpretq_u8_u32(hw), 4));
    return vsubq_s8(vreinterpretq_s8_u8(v), vdupq_n_s8(32));
}

ARM_INLINE void tile_q3_K(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n_in, int nt, float *out) {
    const block_q3_K *w = (const block_q3_K *)wr;
    const uint8x16_t m3 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n_in / QK_K; b++) {
        const block_q3_K *wb = w + b;
        int32x4_t sc[4];
        arm_widen_scales16(arm_q3_K_scales(wb->scales), sc);
        const uint8x16_t h0 = vld1q_u8(wb->hmask), h1 = vld1q_u8(wb->hmask + 16);
        int32x4_t isv[4];
        for (int t = 0; t < nt; t++) isv[t] = vdupq_n_s32(0);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const int half = c / 2, j0 = 2 * (c % 2);
            const uint8x16_t q0 = vld1q_u8(wb->qs + 32 * half), q1 = vld1q_u8(wb->qs + 32 * half + 16);
            const int8x16_t sh0 = vdupq_n_s8((int8_t)(-2 * j0)), sh1 = vdupq_n_s8((int8_t)(-2 * j0 - 2));
            const uint8x16_t bit0 = vdupq_n_u8((uint8_t)(1u << (4 * half + j0)));
            const uint8x16_t bit1 = vdupq_n_u8((uint8_t)(1u << (4 * half + j0 + 1)));
            /* q - 4 where the hmask bit is clear */
            int8x16_t wv[4];
            wv[0] = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(vshlq_u8(q0, sh0), m3), vbicq_u8(four, vtstq_u8(h0, bit0))));
            wv[1] = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(vshlq_u8(q1, sh0), m3), vbicq_u8(four, vtstq_u8(h1, bit0))));
            wv[2] = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(vshlq_u8(q0, sh1), m3), vbicq_u8(four, vtstq_u8(h0, bit1))));
            wv[3] = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(vshlq_u8(q1, sh1), m3), vbicq_u8(four, vtstq_u8(h1, bit1))));
            for (int t = 0; t < nt; t++) {
                int32x4_t d[4];
                arm_chunk_dots(wv, ACT_BLOCK(block_q8_K, act, arb, t, b)->qs + 64 * c, d);
                isv[t] = arm_acc4(isv[t], d[0], d[1], d[2], d[3], sc[c]);
            }
        }
        const float wd = arm_h2f(wb->d);
        for (int t = 0; t < nt; t++) {
            const block_q8_K *a = ACT_BLOCK(block_q8_K, act, arb, t, b);
            sum[t] += (wd * a->d) * (float)vaddvq_s32(isv[t]);
        }
    }
    for (int t = 0; t < nt; t++) out[t] = sum[t];
}

/* The 6-bit scales and mins of the 8 sub-blocks of a q4_K / q5_K block
 * (q4_K_scale_min for all i at once, on the three little-endian words a,
 * b, c of the 12 bytes): sc2[c] = [sc(2c), sc(2c), sc(2c+1), sc(2c+1)]
 * (matching the lanes of vpaddq_s32(dot of sub-block 2c, dot of sub-block
 * 2c+1)), mins as int16. */
ARM_INLINE void arm_q4_K_scales(const uint8_t scales[K_SCALE_SIZE], int32x4_t sc2[4], int16x8_t *mins) {
    uint32_t a, b, c;
    memcpy(&a, scales, 4);
    memcpy(&b, scales + 4, 4);
    memcpy(&c, scales + 8, 4);
    /* sub-blocks 0..3: the low 6 bits of a (scales), b (mins); 4..7: the
     * nibbles of c with the top 2 bits of a / b above them */
    const uint64_t sc = (uint64_t)(a & 0x3f3f3f3fu) | (uint64_t)((c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u)) << 32;
    const uint64_t mn = (uint64_t)(b & 0x3f3f3f3fu) | (uint64_t)(((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u)) << 32;
    const uint8x8_t sc8 = vcreate_u8(sc);
    const uint8x8x2_t twice = vzip_u8(sc8, sc8);
    const uint16x8_t lo = vmovl_u8(twice.val[0]), hi = vmovl_u8(twice.val[1]);
    sc2[0] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(lo)));
    sc2[1] = vreinterpretq_s32_u32(vmovl_high_u16(lo));
    sc2[2] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(hi)));
    sc2[3] = vreinterpretq_s32_u32(vmovl_high_u16(hi));
    *mins = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(mn)));
}

ARM_INLINE void tile_q4_K(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n_in, int nt, float *out) {
    const block_q4_K *w = (const block_q4_K *)wr;
    const uint8x16_t m4 = vdupq_n_u8(15);
    const int32x4_t z = vdupq_n_s32(0);
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n_in / QK_K; b++) {
        const block_q4_K *wb = w + b;
        int32x4_t sc2[4];
        int16x8_t mins;
        arm_q4_K_scales(wb->scales, sc2, &mins);
        int32x4_t isv[4];
        for (int t = 0; t < nt; t++) isv[t] = z;
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const uint8x16_t q0 = vld1q_u8(wb->qs + 32 * c), q1 = vld1q_u8(wb->qs + 32 * c + 16);
            const int8x16_t w0 = vreinterpretq_s8_u8(vandq_u8(q0, m4)), w1 = vreinterpretq_s8_u8(vandq_u8(q1, m4));
            const int8x16_t w2 = vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), w3 = vreinterpretq_s8_u8(vshrq_n_u8(q1, 4));
            for (int t = 0; t < nt; t++) {
                const int8_t *aq = ACT_BLOCK(block_q8_K, act, arb, t, b)->qs + 64 * c;
                const int32x4_t s0 = ARM_DOT16_SMALLW(ARM_DOT16_SMALLW(z, w0, vld1q_s8(aq)), w1, vld1q_s8(aq + 16));
                const int32x4_t s1 = ARM_DOT16_SMALLW(ARM_DOT16_SMALLW(z, w2, vld1q_s8(aq + 32)), w3, vld1q_s8(aq + 48));
                isv[t] = vmlaq_s32(isv[t], vpaddq_s32(s0, s1), sc2[c]);
            }
        }
        const float wd = arm_h2f(wb->d), wdmin = arm_h2f(wb->dmin);
        for (int t = 0; t < nt; t++) {
            const block_q8_K *a = ACT_BLOCK(block_q8_K, act, arb, t, b);
            const int32_t isum = vaddvq_s32(isv[t]), isum_min = arm_min8(a, mins);
            const float d = wd * a->d, dmin = wdmin * a->d;
            sum[t] += d * (float)isum - dmin * (float)isum_min;
        }
    }
    for (int t = 0; t < nt; t++) out[t] = sum[t];
}

ARM_INLINE void tile_q5_K(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n_in, int nt, float *out) {
    const block_q5_K *w = (const block_q5_K *)wr;
    const uint8x16_t m4 = vdupq_n_u8(15), b16 = vdupq_n_u8(16);
    const int32x4_t z = vdupq_n_s32(0);
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n_in / QK_K; b++) {
        const block_q5_K *wb = w + b;
        int32x4_t sc2[4];
        int16x8_t mins;
        arm_q4_K_scales(wb->scales, sc2, &mins);
        /* bit i of qh[l] is the fifth bit of element 32 i + l: shifted right
         * by 2 per chunk, bits 0 and 1 serve sub-blocks 2c and 2c + 1 */
        uint8x16_t h0 = vld1q_u8(wb->qh), h1 = vld1q_u8(wb->qh + 16);
        int32x4_t isv[4];
        for (int t = 0; t < nt; t++) isv[t] = z;
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const uint8x16_t q0 = vld1q_u8(wb->qs + 32 * c), q1 = vld1q_u8(wb->qs + 32 * c + 16);
            const int8x16_t w0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, m4), vandq_u8(vshlq_n_u8(h0, 4), b16)));
            const int8x16_t w1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, m4), vandq_u8(vshlq_n_u8(h1, 4), b16)));
            const int8x16_t w2 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q0, 4), vandq_u8(vshlq_n_u8(h0, 3), b16)));
            const int8x16_t w3 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q1, 4), vandq_u8(vshlq_n_u8(h1, 3), b16)));
            h0 = vshrq_n_u8(h0, 2);
            h1 = vshrq_n_u8(h1, 2);
            for (int t = 0; t < nt; t++) {
                const int8_t *aq = ACT_BLOCK(block_q8_K, act, arb, t, b)->qs + 64 * c;
                const int32x4_t s0 = ARM_DOT16_SMALLW(ARM_DOT16_SMALLW(z, w0, vld1q_s8(aq)), w1, vld1q_s8(aq + 16));
                const int32x4_t s1 = ARM_DOT16_SMALLW(ARM_DOT16_SMALLW(z, w2, vld1q_s8(aq + 32)), w3, vld1q_s8(aq + 48));
                isv[t] = vmlaq_s32(isv[t], vpaddq_s32(s0, s1), sc2[c]);
            }
        }
        const float wd = arm_h2f(wb->d), wdmin = arm_h2f(wb->dmin);
        for (int t = 0; t < nt; t++) {
            const block_q8_K *a = ACT_BLOCK(block_q8_K, act, arb, t, b);
            const int32_t isum = vaddvq_s32(isv[t]), isum_min = arm_min8(a, mins);
            const float d = wd * a->d, dmin = wdmin * a->d;
            sum[t] += d * (float)isum - dmin * (float)isum_min;
        }
    }
    for (int t = 0; t < nt; t++) out[t] = sum[t];
}

ARM_INLINE void tile_q6_K(const uint8_t *wr, const uint8_t *act, size_t arb, int64_t n_in, int nt, float *out) {
    const block_q6_K *w = (const block_q6_K *)wr;
    const uint8x16_t m4 = vdupq_n_u8(15), m3 = vdupq_n_u8(3);
    const int8x16_t s32 = vdupq_n_s8(32);
    float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < n_in / QK_K; b++) {
        const block_q6_K *wb = w + b;
        int32x4_t sc[4];
        arm_widen_scales16(vld1q_s8(wb->scales), sc);
        int32x4_t isv[4];
        for (int t = 0; t < nt; t++) isv[t] = vdupq_n_s32(0);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            /* chunk c: elements 128 half + 64 kp + [0, 64), k = 2 kp and 2 kp + 1 */
            const int half = c / 2, kp = c % 2;
            const uint8_t *ql = wb->ql + 64 * half, *qh = wb->qh + 32 * half;
            const int8x16_t lsh = vdupq_n_s8((int8_t)(-4 * kp));
            const int8x16_t hsh0 = vdupq_n_s8((int8_t)(-4 * kp)), hsh1 = vdupq_n_s8((int8_t)(-4 * kp - 2));
            const uint8x16_t hb0 = vld1q_u8(qh), hb1 = vld1q_u8(qh + 16);
            const uint8x16_t l0 = vandq_u8(vshlq_u8(vld1q_u8(ql), lsh), m4);
            const uint8x16_t l1 = vandq_u8(vshlq_u8(vld1q_u8(ql + 16), lsh), m4);
            const uint8x16_t l2 = vandq_u8(vshlq_u8(vld1q_u8(ql + 32), lsh), m4);
            const uint8x16_t l3 = vandq_u8(vshlq_u8(vld1q_u8(ql + 48), lsh), m4);
            int8x16_t wv[4];
            wv[0] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(l0, vshlq_n_u8(vandq_u8(vshlq_u8(hb0, hsh0), m3), 4))), s32);
            wv[1] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(l1, vshlq_n_u8(vandq_u8(vshlq_u8(hb1, hsh0), m3), 4))), s32);
            wv[2] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(l2, vshlq_n_u8(vandq_u8(vshlq_u8(hb0, hsh1), m3), 4))), s32);
            wv[3] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(l3, vshlq_n_u8(vandq_u8(vshlq_u8(hb1, hsh1), m3), 4))), s32);
            for (int t = 0; t < nt; t++) {
                int32x4_t d[4];
                arm_chunk_dots(wv, ACT_BLOCK(block_q8_K, act, arb, t, b)->qs + 64 * c, d);
                isv[t] = arm_acc4(isv[t], d[0], d[1], d[2], d[3], sc[c]);
            }
        }
        const float wd = arm_h2f(wb->d);
        for (int t = 0; t < nt; t++) {
            const block_q8_K *a = ACT_BLOCK(block_q8_K, act, arb, t, b);
            sum[t] += (wd * a->d) * (float)vaddvq_s32(isv[t]);
        }
    }
    for (int t = 0; t < nt; t++) out[t] = sum[t];
}

/* ---- the driver ---------------------------------------------------------------
 *
 * Rows go in chunks of ARM_ROW_CHUNK (the chunk's weights stay in cache
 * while the activations pass in groups of four tokens); within a chunk each
 * row meets each group in one tile. Chunking only orders the tiles: every
 * (row, token) is one tile's lane whatever the chunk or group it falls in. */
enum { ARM_ROW_CHUNK = 16, ARM_TILE_T = 4 };

#define ARM_GEMM(NAME, TILE)                                                                                  \
    static void NAME(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,  \
                     int64_t r1, int32_t n_tok, float *y, int64_t ys) {                                       \
        for (int64_t rc = r0; rc < r1; rc += ARM_ROW_CHUNK) {                                                 \
            const int64_t rc1 = r1 - rc < ARM_ROW_CHUNK ? r1 : rc + ARM_ROW_CHUNK;                            \
            for (int32_t t0 = 0; t0 < n_tok; t0 += ARM_TILE_T) {                                              \
                const int nt = n_tok - t0 < ARM_TILE_T ? (int)(n_tok - t0) : ARM_TILE_T;                      \
                const uint8_t *a = act + (size_t)t0 * arb;                                                    \
                float *yt = y + (size_t)t0 * (size_t)ys;                                                      \
                for (int64_t r = rc; r < rc1; r++) {                                                          \
                    const uint8_t *wr = w + (size_t)r * wrb;                                                  \
                    float o[ARM_TILE_T];                                                                      \
                    switch (nt) {                                                                             \
                    case 4: TILE(wr, a, arb, n_in, 4, o); break;                                              \
                    case 3: TILE(wr, a, arb, n_in, 3, o); break;                                              \
                    case 2: TILE(wr, a, arb, n_in, 2, o); break;                                              \
                    default: TILE(wr, a, arb, n_in, 1, o); break;                                             \
                    }                                                                                         \
                    for (int k = 0; k < nt; k++) yt[(size_t)k * (size_t)ys + (size_t)r] = o[k];               \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    }

#define ARM_INT8_GEMMS(SUFFIX)                  \
    ARM_GEMM(gemm_q8_0_##SUFFIX, tile_q8_0)     \
    ARM_GEMM(gemm_q4_0_##SUFFIX, tile_q4_0)     \
    ARM_GEMM(gemm_q5_0_##SUFFIX, tile_q5_0)     \
    ARM_GEMM(gemm_q4_1_##SUFFIX, tile_q4_1)     \
    ARM_GEMM(gemm_q5_1_##SUFFIX, tile_q5_1)     \
    ARM_GEMM(gemm_q2_K_##SUFFIX, tile_q2_K)     \
    ARM_GEMM(gemm_q3_K_##SUFFIX, tile_q3_K)     \
    ARM_GEMM(gemm_q4_K_##SUFFIX, tile_q4_K)     \
    ARM_GEMM(gemm_q5_K_##SUFFIX, tile_q5_K)     \
    ARM_GEMM(gemm_q6_K_##SUFFIX, tile_q6_K)

#define ARM_SET_INT8_GEMMS(t, SUFFIX)                    \
    do {                                                 \
        (t)->gemm[QTYPE_Q8_0] = gemm_q8_0_##SUFFIX;      \
        (t)->gemm[QTYPE_Q4_0] = gemm_q4_0_##SUFFIX;      \
        (t)->gemm[QTYPE_Q5_0] = gemm_q5_0_##SUFFIX;      \
        (t)->gemm[QTYPE_Q4_1] = gemm_q4_1_##SUFFIX;      \
        (t)->gemm[QTYPE_Q5_1] = gemm_q5_1_##SUFFIX;      \
        (t)->gemm[QTYPE_Q2_K] = gemm_q2_K_##SUFFIX;      \
        (t)->gemm[QTYPE_Q3_K] = gemm_q3_K_##SUFFIX;      \
        (t)->gemm[QTYPE_Q4_K] = gemm_q4_K_##SUFFIX;      \
        (t)->gemm[QTYPE_Q5_K] = gemm_q5_K_##SUFFIX;      \
        (t)->gemm[QTYPE_Q6_K] = gemm_q6_K_##SUFFIX;      \
    } while (0)

#endif
