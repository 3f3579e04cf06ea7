/*
 * Scalar dequantization: block formats -> f32, bit for bit what ggml's
 * to_float functions produce. Every expression keeps ggml's operation order
 * (the parenthesised products in the formulas of quant.h); the whole build
 * uses -ffp-contract=off, so no multiply-add is fused.
 */
#include "kernels/quant.h"

#include <string.h>

#include "util/util.h"

void dequant_row_f32(const void *src, float *dst, int64_t n) {
    if (n > 0) memcpy(dst, src, (size_t)n * sizeof(float));
}

void dequant_row_f16(const void *src, float *dst, int64_t n) {
    const block_f16 *x = src;
    for (int64_t i = 0; i < n; i++) dst[i] = fp16_to_f32(x[i].bits);
}

void dequant_row_bf16(const void *src, float *dst, int64_t n) {
    const block_bf16 *x = src;
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(x[i].bits);
}

void dequant_row_q4_0(const void *src, float *dst, int64_t n) {
    const block_q4_0 *x = src;
    for (int64_t b = 0; b < n / QK4_0; b++, dst += QK4_0) {
        const float d = fp16_to_f32(x[b].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[j] = (float)((x[b].qs[j] & 15) - 8) * d;
            dst[j + QK4_0 / 2] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequant_row_q4_1(const void *src, float *dst, int64_t n) {
    const block_q4_1 *x = src;
    for (int64_t b = 0; b < n / QK4_1; b++, dst += QK4_1) {
        const float d = fp16_to_f32(x[b].d);
        const float m = fp16_to_f32(x[b].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            dst[j] = (float)(x[b].qs[j] & 15) * d + m;
            dst[j + QK4_1 / 2] = (float)(x[b].qs[j] >> 4) * d + m;
        }
    }
}

static inline uint32_t load_u32_le(const uint8_t p[4]) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void dequant_row_q5_0(const void *src, float *dst, int64_t n) {
    const block_q5_0 *x = src;
    for (int64_t b = 0; b < n / QK5_0; b++, dst += QK5_0) {
        const float d = fp16_to_f32(x[b].d);
        const uint32_t qh = load_u32_le(x[b].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int h0 = (qh >> j) & 1;
            const int h1 = (qh >> (j + QK5_0 / 2)) & 1;
            dst[j] = (float)(((x[b].qs[j] & 15) | h0 << 4) - 16) * d;
            dst[j + QK5_0 / 2] = (float)(((x[b].qs[j] >> 4) | h1 << 4) - 16) * d;
        }
    }
}

void dequant_row_q5_1(const void *src, float *dst, int64_t n) {
    const block_q5_1 *x = src;
    for (int64_t b = 0; b < n / QK5_1; b++, dst += QK5_1) {
        const float d = fp16_to_f32(x[b].d);
        const float m = fp16_to_f32(x[b].m);
        const uint32_t qh = load_u32_le(x[b].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int h0 = (qh >> j) & 1;
            const int h1 = (qh >> (j + QK5_1 / 2)) & 1;
            dst[j] = (float)((x[b].qs[j] & 15) | h0 << 4) * d + m;
            dst[j + QK5_1 / 2] = (float)((x[b].qs[j] >> 4) | h1 << 4) * d + m;
        }
    }
}

void dequant_row_q8_0(const void *src, float *dst, int64_t n) {
    const block_q8_0 *x = src;
    for (int64_t b = 0; b < n / QK8_0; b++, dst += QK8_0) {
        const float d = fp16_to_f32(x[b].d);
        for (int j = 0; j < QK8_0; j++) dst[j] = (float)x[b].qs[j] * d;
    }
}

void dequant_row_q8_1(const void *src, float *dst, int64_t n) {
    const block_q8_1 *x = src;
    for (int64_t b = 0; b < n / QK8_1; b++, dst += QK8_1) {
        const float d = fp16_to_f32(x[b].d);
        for (int j = 0; j < QK8_1; j++) dst[j] = d * (float)x[b].qs[j];
    }
}

/* Element 128n + 32j + 16h + l: 2 bits (shift 2j) of qs[32n + 16h + l],
 * scale/min byte scales[8n + 2j + h]. */
void dequant_row_q2_K(const void *src, float *dst, int64_t n) {
    const block_q2_K *x = src;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16_to_f32(x[b].d);
        const float dmin = fp16_to_f32(x[b].dmin);
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = x[b].qs + 32 * half;
            for (int j = 0; j < 4; j++) {
                for (int h = 0; h < 2; h++) {
                    const uint8_t sc = x[b].scales[8 * half + 2 * j + h];
                    const float dl = d * (float)(sc & 15);
                    const float ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++) {
                        const int v = (q[16 * h + l] >> (2 * j)) & 3;
                        *dst++ = dl * (float)v - ml;
                    }
                }
            }
        }
    }
}

/* As Q2_K for the low bits; the third bit of element 128n + 32j + 16h + l
 * is bit 4n + j of hmask[16h + l] (clear: subtract 4). */
void dequant_row_q3_K(const void *src, float *dst, int64_t n) {
    const block_q3_K *x = src;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16_to_f32(x[b].d);
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = x[b].qs + 32 * half;
            for (int j = 0; j < 4; j++) {
                const uint8_t hbit = (uint8_t)(1u << (4 * half + j));
                for (int h = 0; h < 2; h++) {
                    const float dl = d * (float)q3_K_scale(x[b].scales, 8 * half + 2 * j + h);
                    for (int l = 0; l < 16; l++) {
                        const int lo = (q[16 * h + l] >> (2 * j)) & 3;
                        const int v = lo - ((x[b].hmask[16 * h + l] & hbit) ? 0 : 4);
                        *dst++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

/* Element 64g + 32h + l (sub-block i = 2g + h): low (h = 0) or high (h = 1)
 * nibble of qs[32g + l]. */
void dequant_row_q4_K(const void *src, float *dst, int64_t n) {
    const block_q4_K *x = src;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16_to_f32(x[b].d);
        const float dmin = fp16_to_f32(x[b].dmin);
        for (int g = 0; g < 4; g++) {
            const uint8_t *q = x[b].qs + 32 * g;
            for (int h = 0; h < 2; h++) {
                int sc, m;
                q4_K_scale_min(x[b].scales, 2 * g + h, &sc, &m);
                const float dl = d * (float)sc;
                const float ml = dmin * (float)m;
                for (int l = 0; l < 32; l++) {
                    const int v = h == 0 ? q[l] & 15 : q[l] >> 4;
                    *dst++ = dl * (float)v - ml;
                }
            }
        }
    }
}

/* As Q4_K plus a fifth bit: bit i of qh[l] for sub-block i. */
void dequant_row_q5_K(const void *src, float *dst, int64_t n) {
    const block_q5_K *x = src;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16_to_f32(x[b].d);
        const float dmin = fp16_to_f32(x[b].dmin);
        for (int g = 0; g < 4; g++) {
            const uint8_t *q = x[b].qs + 32 * g;
            for (int h = 0; h < 2; h++) {
                const int i = 2 * g + h;
                int sc, m;
                q4_K_scale_min(x[b].scales, i, &sc, &m);
                const float dl = d * (float)sc;
                const float ml = dmin * (float)m;
                for (int l = 0; l < 32; l++) {
                    const int lo = h == 0 ? q[l] & 15 : q[l] >> 4;
                    const int v = lo | ((x[b].qh[l] >> i) & 1) << 4;
                    *dst++ = dl * (float)v - ml;
                }
            }
        }
    }
}

/* Element 128n + 32k + l: low nibble from ql[64n + 32(k & 1) + l] (high
 * nibble when k >= 2), two high bits (shift 2k) from qh[32n + l], scale
 * scales[8n + 2k + l / 16]. */
void dequant_row_q6_K(const void *src, float *dst, int64_t n) {
    const block_q6_K *x = src;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16_to_f32(x[b].d);
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = x[b].ql + 64 * half;
            const uint8_t *qh = x[b].qh + 32 * half;
            for (int k = 0; k < 4; k++) {
                const uint8_t *lo = ql + 32 * (k & 1);
                const int lo_shift = k < 2 ? 0 : 4;
                for (int l = 0; l < 32; l++) {
                    const int s = x[b].scales[8 * half + 2 * k + l / 16];
                    const int v = (((lo[l] >> lo_shift) & 15) | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
                    *dst++ = (d * (float)s) * (float)v;
                }
            }
        }
    }
}

void dequant_row_q8_K(const void *src, float *dst, int64_t n) {
    const block_q8_K *x = src;
    for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K) {
        for (int j = 0; j < QK_K; j++) dst[j] = x[b].d * (float)x[b].qs[j];
    }
}
