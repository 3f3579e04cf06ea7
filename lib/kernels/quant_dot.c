/*
 * Scalar dot products of a weight row with an activation row.
 *
 * Quantized types: integer products summed per block (32 elements) or per
 * super-block (256 elements, with the block's 4- to 8-bit scales applied to
 * integer sub-sums), then one f32 scale per block, summed in f32 in block
 * order, as ggml's reference kernels do. Bounds of the integer sums (|a| <=
 * 127 from our quantizers, <= 128 for any int8): 32 * 31 * 128 for Q5_*,
 * 256 * 63 * 31 * 128 for Q5_K, 256 * 128 * 32 * 128 for Q6_K (< 2^31).
 *
 * Float types: f32 products summed in double (ggml's scalar f32 dot does the
 * same), rounded to f32 at the end.
 */
#include "kernels/quant.h"

#include "util/util.h"

float vec_dot_f32_f32(const void *w_row, const void *a_row, int64_t n) {
    const float *w = w_row;
    const float *a = a_row;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(w[i] * a[i]);
    return (float)sum;
}

float vec_dot_f16_f32(const void *w_row, const void *a_row, int64_t n) {
    const block_f16 *w = w_row;
    const float *a = a_row;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(fp16_to_f32(w[i].bits) * a[i]);
    return (float)sum;
}

float vec_dot_bf16_f32(const void *w_row, const void *a_row, int64_t n) {
    const block_bf16 *w = w_row;
    const float *a = a_row;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(bf16_to_f32(w[i].bits) * a[i]);
    return (float)sum;
}

float vec_dot_q4_0_q8_0(const void *w_row, const void *a_row, int64_t n) {
    const block_q4_0 *w = w_row;
    const block_q8_0 *a = a_row;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        int isum = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            isum += ((w[b].qs[j] & 15) - 8) * a[b].qs[j];
            isum += ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + QK4_0 / 2];
        }
        sum += (fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d)) * (float)isum;
    }
    return sum;
}

/* y = q * dw + mw, a = qa * da: sum(y * a) = dw * da * sum(q * qa) + mw * s,
 * with s = da * sum(qa) as stored (f16-rounded) in the q8_1 block. */
float vec_dot_q4_1_q8_1(const void *w_row, const void *a_row, int64_t n) {
    const block_q4_1 *w = w_row;
    const block_q8_1 *a = a_row;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK4_1; b++) {
        int isum = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            isum += (w[b].qs[j] & 15) * a[b].qs[j];
            isum += (w[b].qs[j] >> 4) * a[b].qs[j + QK4_1 / 2];
        }
        sum += (fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d)) * (float)isum
             + fp16_to_f32(w[b].m) * fp16_to_f32(a[b].s);
    }
    return sum;
}

static inline uint32_t load_u32_le(const uint8_t p[4]) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

float vec_dot_q5_0_q8_0(const void *w_row, const void *a_row, int64_t n) {
    const block_q5_0 *w = w_row;
    const block_q8_0 *a = a_row;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK5_0; b++) {
        const uint32_t qh = load_u32_le(w[b].qh);
        int isum = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int q0 = ((w[b].qs[j] & 15) | (int)((qh >> j) & 1) << 4) - 16;
            const int q1 = ((w[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
            isum += q0 * a[b].qs[j] + q1 * a[b].qs[j + QK5_0 / 2];
        }
        sum += (fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d)) * (float)isum;
    }
    return sum;
}

float vec_dot_q5_1_q8_1(const void *w_row, const void *a_row, int64_t n) {
    const block_q5_1 *w = w_row;
    const block_q8_1 *a = a_row;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK5_1; b++) {
        const uint32_t qh = load_u32_le(w[b].qh);
        int isum = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int q0 = (w[b].qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            const int q1 = (w[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            isum += q0 * a[b].qs[j] + q1 * a[b].qs[j + QK5_1 / 2];
        }
        sum += (fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d)) * (float)isum
             + fp16_to_f32(w[b].m) * fp16_to_f32(a[b].s);
    }
    return sum;
}

float vec_dot_q8_0_q8_0(const void *w_row, const void *a_row, int64_t n) {
    const block_q8_0 *w = w_row;
    const block_q8_0 *a = a_row;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += w[b].qs[j] * a[b].qs[j];
        sum += (fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d)) * (float)isum;
    }
    return sum;
}

/* Q2_K: y = (d * sc_i) * q - dmin * m_i over the 16 sub-blocks i of 16, so
 * sum(y * a) = da * (d * sum_i sc_i * sum(q * qa) - dmin * sum_i m_i * bsums[i]). */
float vec_dot_q2_K_q8_K(const void *w_row, const void *a_row, int64_t n) {
    const block_q2_K *w = w_row;
    const block_q8_K *a = a_row;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0, isum_min = 0;
        for (int i = 0; i < QK_K / 16; i++) {
            /* sub-block i = 8 * half + 2 * j + h covers elements 16i..16i+15 */
            const int half = i / 8, j = (i % 8) / 2, h = i % 2;
            const uint8_t *q = w[b].qs + 32 * half + 16 * h;
            const int8_t *qa = a[b].qs + 16 * i;
            int s = 0;
            for (int l = 0; l < 16; l++) s += ((q[l] >> (2 * j)) & 3) * qa[l];
            isum += (w[b].scales[i] & 15) * s;
            isum_min += (w[b].scales[i] >> 4) * a[b].bsums[i];
        }
        const float d = a[b].d * fp16_to_f32(w[b].d);
        const float dmin = a[b].d * fp16_to_f32(w[b].dmin);
        sum += d * (float)isum - dmin * (float)isum_min;
    }
    return sum;
}

float vec_dot_q3_K_q8_K(const void *w_row, const void *a_row, int64_t n) {
    const block_q3_K *w = w_row;
    const block_q8_K *a = a_row;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0;
        for (int i = 0; i < QK_K / 16; i++) {
            const int half = i / 8, j = (i % 8) / 2, h = i % 2;
            const uint8_t *q = w[b].qs + 32 * half + 16 * h;
            const uint8_t *hm = w[b].hmask + 16 * h;
            const uint8_t hbit = (uint8_t)(1u << (4 * half + j));
            const int8_t *qa = a[b].qs + 16 * i;
            int s = 0;
            for (int l = 0; l < 16; l++) {
                const int v = ((q[l] >> (2 * j)) & 3) - ((hm[l] & hbit) ? 0 : 4);
                s += v * qa[l];
            }
            isum += q3_K_scale(w[b].scales, i) * s;
        }
        sum += (fp16_to_f32(w[b].d) * a[b].d) * (float)isum;
    }
    return sum;
}

/* Q4_K / Q5_K: sub-blocks of 32, the min term from bsums (two per sub-block). */
float vec_dot_q4_K_q8_K(const void *w_row, const void *a_row, int64_t n) {
    const block_q4_K *w = w_row;
    const block_q8_K *a = a_row;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0, isum_min = 0;
        for (int i = 0; i < QK_K / 32; i++) {
            const uint8_t *q = w[b].qs + 32 * (i / 2);
            const int shift = 4 * (i % 2);
            const int8_t *qa = a[b].qs + 32 * i;
            int sc, m, s = 0;
            q4_K_scale_min(w[b].scales, i, &sc, &m);
            for (int l = 0; l < 32; l++) s += ((q[l] >> shift) & 15) * qa[l];
            isum += sc * s;
            isum_min += m * (a[b].bsums[2 * i] + a[b].bsums[2 * i + 1]);
        }
        const float d = fp16_to_f32(w[b].d) * a[b].d;
        const float dmin = fp16_to_f32(w[b].dmin) * a[b].d;
        sum += d * (float)isum - dmin * (float)isum_min;
    }
    return sum;
}

float vec_dot_q5_K_q8_K(const void *w_row, const void *a_row, int64_t n) {
    const block_q5_K *w = w_row;
    const block_q8_K *a = a_row;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0, isum_min = 0;
        for (int i = 0; i < QK_K / 32; i++) {
            const uint8_t *q = w[b].qs + 32 * (i / 2);
            const int shift = 4 * (i % 2);
            const int8_t *qa = a[b].qs + 32 * i;
            int sc, m, s = 0;
            q4_K_scale_min(w[b].scales, i, &sc, &m);
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> shift) & 15) | ((w[b].qh[l] >> i) & 1) << 4;
                s += v * qa[l];
            }
            isum += sc * s;
            isum_min += m * (a[b].bsums[2 * i] + a[b].bsums[2 * i + 1]);
        }
        const float d = fp16_to_f32(w[b].d) * a[b].d;
        const float dmin = fp16_to_f32(w[b].dmin) * a[b].d;
        sum += d * (float)isum - dmin * (float)isum_min;
    }
    return sum;
}

float vec_dot_q6_K_q8_K(const void *w_row, const void *a_row, int64_t n) {
    const block_q6_K *w = w_row;
    const block_q8_K *a = a_row;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0;
        for (int i = 0; i < QK_K / 16; i++) {
            /* sub-block i covers elements 16i..16i+15 = 128 half + 32 k + l */
            const int half = i / 8, k = (i % 8) / 2, l0 = 16 * (i % 2);
            const uint8_t *ql = w[b].ql + 64 * half + 32 * (k & 1) + l0;
            const uint8_t *qh = w[b].qh + 32 * half + l0;
            const int lo_shift = k < 2 ? 0 : 4;
            const int8_t *qa = a[b].qs + 16 * i;
            int s = 0;
            for (int l = 0; l < 16; l++) {
                const int v = (((ql[l] >> lo_shift) & 15) | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
                s += v * qa[l];
            }
            isum += w[b].scales[i] * s;
        }
        sum += (fp16_to_f32(w[b].d) * a[b].d) * (float)isum;
    }
    return sum;
}
